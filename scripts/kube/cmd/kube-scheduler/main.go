// kube-scheduler for the test control plane, built by scripts/setup-kube.sh into .tools/bin.
// The same main as upstream's cmd/kube-scheduler; the version is stamped in with -ldflags.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
)

func main() { os.Exit(cli.Run(app.NewSchedulerCommand())) }
