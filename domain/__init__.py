"""The pure model of convo: conversations, messages and their rules. Standard library only."""
