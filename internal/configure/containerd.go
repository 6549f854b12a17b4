package configure

import (
	"fmt"
)

// The CRI plugin's name, and so the tables a runtime handler lives in,
// changed with containerd 2.0's config version 3.
var criPlugin = map[int64]string{
	2: "io.containerd.grpc.v1.cri",    // containerd 1.x
	3: "io.containerd.cri.v1.runtime", // containerd 2.x
	4: "io.containerd.cri.v1.runtime", // containerd 2.4's `config default`: server sockets move under plugins, CRI stays
}

// editContainerd adds the runtime handler:
//
//	[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.NAME]
//	  runtime_type = "io.containerd.runc.v2"
//	  pod_annotations = ["org.rro-runc.*"]
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
			return nil, fmt.Errorf("%w: config version %v: rroctl edits version 2 (containerd 1.x), 3 and 4 (containerd 2.x)", ErrUnsupported, v)
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
		tomlChange{table: rt, key: "pod_annotations", value: []string{}, add: PodAnnotations},
		tomlChange{table: opts, key: "BinaryName", value: o.Binary},
	)
	if o.RuncRoot != "" {
		changes = append(changes, tomlChange{table: opts, key: "Root", value: o.RuncRoot})
	}
	return editTOML(src, old, changes)
}

// warnings notes a configuration in which the runtime handler cannot
// work: the CRI plugin it belongs to is disabled (Docker's containerd
// package ships such a file).
func warnings(t Target, name string, src []byte) []string {
	if t != Containerd {
		return nil
	}
	m, err := parseTOML(src)
	if err != nil {
		return nil
	}
	disabled, _ := stringList(m["disabled_plugins"])
	version, _ := m["version"].(int64)
	for _, p := range disabled {
		if p == "cri" || p == criPlugin[version] {
			return []string{fmt.Sprintf("%s disables the CRI plugin (disabled_plugins = [%q]): the runtime handler has no effect until it is enabled; ctr users pass --runc-binary instead", name, p)}
		}
	}
	return nil
}
