image = "busybox"
anything = { a = [1, "x", true, null], b = { c = 1.5e3 } }
pair = ["a", 1]
obj = { a = "x", b = [1, 2, 3] }
labels = { "a.b" = "c", d = "${upper("e")}" }
args = [for s in ["a", "b"] : "${s}-x"]
port = 1 + 2 * 3
flag = !false && true
mount {
  source = <<EOT
  heredoc
EOT
}
volume "v1" { driver = "local" }
logging {
  driver = "json-file" # comment
}
// another comment
/* block comment */
