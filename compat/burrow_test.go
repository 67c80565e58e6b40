package compat

import "testing"

func runBurrow(t *testing.T, e *env, res *results) {}

const burrowScenario = ""
