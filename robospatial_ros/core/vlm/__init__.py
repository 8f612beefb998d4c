"""Vision-language model backends: prompts, answer parsing, 2D->3D lifting, HF and OpenAI-compatible clients."""
