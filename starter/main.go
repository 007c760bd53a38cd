// Command starter is the channel's HTTP server: Facebook webhooks, the admin API
// and the agent API (app.RunStarter). It starts, signals and updates workflows;
// the worker runs them.
package main

import (
	"fbchannel/app"
	"fbchannel/config"
)

func main() { config.Main("starter", app.RunStarter) }
