package admin

import "embed"

// webFS holds the console: plain HTML, CSS and JavaScript, no build step,
// nothing fetched from the network at run time.
//
//go:embed web
var webFS embed.FS
