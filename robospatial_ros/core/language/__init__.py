"""Language: questions and commands as text, the generator templates, parsing model output."""
