"""Vision-language model clients (transformers, OpenAI-compatible) and lifting their 2-D answers to 3-D."""
