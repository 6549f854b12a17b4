package configure

import (
	"fmt"
	"path"
	"strings"

	"github.com/rro-runc/rro-runc/rewrite"
)

// The CRI plugin's name, and so the tables a runtime handler lives in,
// changed with containerd 2.0's config version 3. Version 4 (containerd
// 2.3 and later; what 2.4's `containerd config default` prints) moved
// server settings into plugins and left the CRI tables where they were.
var criPlugin = map[int64]string{
	2: "io.containerd.grpc.v1.cri",    // containerd 1.3 and later
	3: "io.containerd.cri.v1.runtime", // containerd 2.0 and later
	4: "io.containerd.cri.v1.runtime", // containerd 2.3 and later
}

// editContainerd adds the runtime handler:
//
//	[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.NAME]
//	  runtime_type = "io.containerd.runc.v2"
//	  pod_annotations = ["org.rro-runc.policy", "org.rro-runc.exclude"]
//	  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.NAME.options]
//	    BinaryName = "BINARY"
func editContainerd(src []byte, o Options) ([]byte, error) {
	old, err := parseTOML(src)
	if err != nil {
		return nil, fmt.Errorf("%w as TOML: %w", ErrParse, err)
	}
	var changes []tomlChange
	version := int64(2)
	switch v, ok := old["version"]; {
	case !ok && len(old) == 0:
		// A new or empty file: containerd would read it as version 1.
		changes = append(changes, tomlChange{key: "version", value: version})
	case !ok:
		return nil, fmt.Errorf("%w: no \"version\": containerd reads this as a version 1 config, which rroctl does not edit; convert it to version = 2 first", ErrUnsupported)
	default:
		n, isInt := v.(int64)
		if _, known := criPlugin[n]; !isInt || !known {
			return nil, fmt.Errorf("%w: config version %v: rroctl edits versions 2 (containerd 1.x), 3 and 4 (containerd 2.x)", ErrUnsupported, v)
		}
		version = n
	}
	cri := []string{"plugins", criPlugin[version], "containerd"}
	rt := append(cri[:3:3], "runtimes", o.RuntimeName)
	opts := append(rt[:5:5], "options")
	if o.SetAsDefault {
		changes = append(changes, tomlChange{table: cri, key: "default_runtime_name", value: o.RuntimeName})
	}
	changes = append(changes,
		tomlChange{table: rt, key: "runtime_type", value: "io.containerd.runc.v2"},
		tomlChange{table: rt, key: "pod_annotations", value: []string{}, add: PodAnnotations, drop: []string{legacyPodAnnotations}},
		tomlChange{table: opts, key: "BinaryName", value: o.Binary},
	)
	if o.RuncRoot != "" {
		changes = append(changes, tomlChange{table: opts, key: "Root", value: o.RuncRoot})
	}
	return editTOML(src, old, changes)
}

// warnings notes a configuration in which the runtime handler cannot
// work as meant: the CRI plugin it belongs to is disabled (Docker's
// containerd package ships such a file), or a pattern the user added to
// the handler lets pods set rro-runc's own record, org.rro-runc.applied.
func warnings(t Target, name string, src []byte, runtimeName string) []string {
	if t != Containerd {
		return nil
	}
	m, err := parseTOML(src)
	if err != nil {
		return nil
	}
	var warn []string
	disabled, _ := stringList(m["disabled_plugins"])
	version, _ := m["version"].(int64)
	for _, p := range disabled {
		if p == "cri" || p == criPlugin[version] {
			warn = append(warn, fmt.Sprintf("%s disables the CRI plugin (disabled_plugins = [%q]): the runtime handler has no effect until it is enabled; ctr users pass --runc-binary instead", name, p))
		}
	}
	rt, _ := lookupTable(m, []string{"plugins", criPlugin[version], "containerd", "runtimes", runtimeName}, false)
	for _, key := range []string{"pod_annotations", "container_annotations"} {
		patterns, _ := stringList(rt[key])
		for _, p := range patterns {
			// containerd matches them with path.Match.
			if ok, _ := path.Match(p, rewrite.AnnotationApplied); ok {
				warn = append(warn, fmt.Sprintf("%s: %s %q of runtime %q lets any pod set %s and claim a protection rro-runc did not apply; list only %s", name, key, p, runtimeName, rewrite.AnnotationApplied, strings.Join(PodAnnotations, " and ")))
			}
		}
	}
	return warn
}
