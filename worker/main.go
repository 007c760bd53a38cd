// Command worker runs the Temporal worker of the Facebook channel: it applies the
// database migrations, registers the search attributes, and runs every workflow
// and activity (app.RunWorker).
package main

import (
	"fbchannel/app"
	"fbchannel/config"
)

func main() { config.Main("worker", app.RunWorker) }
