package app

// DevServerArgs go to every `temporal server start-dev` the project starts:
// make run's, the tests', the benchmarks' and the soak's.
//
// history.transferProcessorMaxPollRPS: the server hands a new workflow or
// activity task to matching by polling its transfer queue, at most 20 times a
// second per history shard by default, and the dev server has one shard. A
// stack dispatching more often than that waits for the next poll: 50 or 100 ms
// a hop. A customer's first message crosses three (the conversation's first
// workflow task, the queue workflow's, its assignment activity), so it reached
// the agent in 150 ms instead of 60 (docs/PERFORMANCE.md, session 12). Polls
// follow new tasks, so an idle server polls no more for it. A real cluster has
// many shards, each with the limit; raise it there too where one shard's
// dispatch latency matters more than its database's load.
var DevServerArgs = []string{"--dynamic-config-value", "history.transferProcessorMaxPollRPS=200"}
