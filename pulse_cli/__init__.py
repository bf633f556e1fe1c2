"""`pulse`: the command-line client of a Segmento Pulse gateway."""
