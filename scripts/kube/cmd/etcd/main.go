// etcd for the test control plane, built by scripts/setup-kube.sh into .tools/bin.
// Same entry point as upstream etcd's main (a wrapper module because `go install` refuses
// go.etcd.io/etcd/server/v3, whose go.mod carries replace lines).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
