"""Reasoning: answer queries (geometric core or a VLM backend), choose placements, run the main job."""
