package configure

import "fmt"

// Podman passes --log (and so gets rro-runc's error message) only to the
// runtimes in runtime_supports_json. Setting the key replaces Podman's
// built-in list, so the common runtimes are kept in it.
var podmanJSONRuntimes = []string{"crun", "runc"}

// editPodman adds, in containers.conf:
//
//	[engine]
//	runtime_supports_json = ["crun", "runc", "NAME"]
//	[engine.runtimes]
//	NAME = ["BINARY"]
func editPodman(src []byte, o Options) ([]byte, error) {
	old, err := parseTOML(src)
	if err != nil {
		return nil, fmt.Errorf("%w as TOML: %w", ErrParse, err)
	}
	engine := []string{"engine"}
	changes := []tomlChange{
		{table: engine, key: "runtime_supports_json", value: podmanJSONRuntimes, add: []string{o.RuntimeName}},
	}
	if o.SetAsDefault {
		changes = append(changes, tomlChange{table: engine, key: "runtime", value: o.RuntimeName})
	}
	changes = append(changes, tomlChange{table: []string{"engine", "runtimes"}, key: o.RuntimeName, value: []string{o.Binary}})
	return editTOML(src, old, changes)
}
