package acl

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/rewindhq/rewind/internal/atomicfile"
)

// FileName is where the ACLs live, relative to the data directory.
const FileName = "security/acls.json"

// formatVersion is the version of the file's format. Version 1 is the
// first; a later format must read it (or migrate it) unchanged.
const formatVersion = 1

type file struct {
	Version int       `json:"version"`
	ACLs    []Binding `json:"acls"`
}

func readFile(path string) ([]Binding, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("acl: %w", err)
	}
	var f file
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("acl: %s: %w", path, err)
	}
	if f.Version != formatVersion {
		return nil, fmt.Errorf("acl: %s: format version %d, this build reads %d", path, f.Version, formatVersion)
	}
	for _, b := range f.ACLs {
		if err := b.Validate(); err != nil {
			return nil, fmt.Errorf("acl: %s: ACL %v: %w", path, b, err)
		}
	}
	return f.ACLs, nil
}

// writeFile replaces the file atomically (internal/atomicfile).
func writeFile(path string, acls []Binding) error {
	if acls == nil {
		acls = []Binding{}
	}
	data, err := json.MarshalIndent(file{Version: formatVersion, ACLs: acls}, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("acl: %w", err)
	}
	return nil
}
