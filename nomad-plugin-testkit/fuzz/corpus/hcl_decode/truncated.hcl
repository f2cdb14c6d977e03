image = "x"
mount {
  source = "a"
