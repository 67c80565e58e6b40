package broker_test

import "github.com/rewindhq/rewind/internal/proctest"

// The client helpers are proctest's, shared with the test modules
// (compat/sarama); the short names keep this package's tests readable.
var (
	newClient      = proctest.NewClient
	testCtx        = proctest.Ctx
	createTopic    = proctest.CreateTopic
	produceStrings = proctest.ProduceStrings
	seq            = proctest.Seq
	waitFor        = proctest.WaitFor
)
