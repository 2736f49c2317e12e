enum PlaceholderTrellisTestKit {}
