// Package browser holds the web console's end-to-end tests: headless
// Chromium driven by chromedp against a broker and its admin listener in
// the test process, on loopback. It holds no library code.
//
// It is a module of its own (test/browser/go.mod) so that chromedp and
// cdproto are never downloaded by a module that imports Rewind's packages.
// `go test work` from the repository root runs it with every other test
// (go.work lists this module); without Chromium the tests skip, saying how
// to get it, and .ci/browser.sh installs Debian's Chromium and makes a
// missing browser a failure.
package browser
