// hellomin is a static Go hello world: the start-up floor of any program
// written in Go, km itself included.
package main

import "os"

func main() { os.Stdout.WriteString("hello, world\n") }
