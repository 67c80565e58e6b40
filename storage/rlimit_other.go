//go:build !unix

package storage

func fileLimit() int64 { return 0 }
