package rewrite

import (
	"path"
	"strings"
)

// The rules below are exported so that rroctl judges a running container
// by exactly the rules the wrapper applied to its config, not a copy.

// ReadOnlyBind reports whether options make a read-only bind mount, read
// as runc reads them: a bind when any option is bind or rbind, read-only
// when the last of ro and rw is ro.
func ReadOnlyBind(options []string) bool {
	d := Decision{Before: options}
	d.classify(nil)
	return d.bind && d.readOnly
}

// ExcludedBy returns the entry of exclude that covers the container
// destination dest (itself or a path beneath it), or "".
func ExcludedBy(dest string, exclude []string) string {
	return excludedBy(dest, cleanExcludes(exclude, nil))
}

// cleanExcludes pairs each non-blank entry with its cleaned, rooted form.
func cleanExcludes(exclude []string, into [][2]string) [][2]string {
	into = into[:0]
	for _, e := range exclude {
		if strings.TrimSpace(e) != "" {
			into = append(into, [2]string{e, path.Clean("/" + e)})
		}
	}
	return into
}
