enum PlaceholderTrellis {}
