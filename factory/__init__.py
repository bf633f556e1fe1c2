"""The model server ("Space B"): summaries (llama.cpp), entities (GLiNER/spaCy), audio (TTS)."""
