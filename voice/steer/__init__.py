"""The steering front: sends each caller's WHIP POST to the nearest healthy region
(VOICE-STEER)."""
