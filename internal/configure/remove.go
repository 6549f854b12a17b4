package configure

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/rro-runc/rro-runc/internal/argv"
	"github.com/rro-runc/rro-runc/rewrite"
)

// ErrNotOurs is wrapped when Remove finds a runtime of the name it was
// given that is not the one Edit installs with these Options (another
// binary, settings rroctl never writes): it is left alone.
var ErrNotOurs = errors.New("not installed by rroctl")

// Remove is the inverse of Edit: it returns src without the runtime that
// Edit(t, name, ·, o) installs, and returns src itself when there is
// none. What it takes out, and only when it is exactly what Edit writes
// for o (o.SetAsDefault is not needed: a default naming the runtime
// always goes with it):
//   - containerd: the handler's tables runtimes.NAME and
//     runtimes.NAME.options (runtime_type io.containerd.runc.v2, the pod
//     annotations rroctl passes through, or the org.rro-runc.* an older
//     rroctl wrote, BinaryName o.Binary and, when o.RuncRoot is set, that
//     Root), and default_runtime_name when it names the handler;
//   - Docker: runtimes.NAME ({"path": o.Binary} and at most one
//     --rro-policy argument, o.Policy's when set), and default-runtime
//     when it names the runtime;
//   - Podman: engine.runtimes.NAME = [o.Binary], NAME in
//     runtime_supports_json (the whole key when it is the list rroctl
//     creates, ["crun", "runc", "NAME"] on one line), and engine.runtime
//     when it names the runtime.
//
// A runtime of that name with anything else is refused with ErrNotOurs.
// Everything else stays byte for byte: comments, layout, other runtimes.
// On a file that Edit changed and nothing changed since, Remove gives back
// the bytes Edit was given, with these exceptions, where the edited text
// cannot tell what was there before:
//   - a table header left with no key of its own goes too, and so does
//     an object left empty (rroctl cannot tell one the user wrote empty
//     from one it created);
//   - a containerd config that says nothing but its version, and a
//     daemon.json that is just {}, become empty files (an empty file, or
//     none, is where Edit writes them);
//   - a default that Edit replaced (--set-as-default over another
//     default) is taken out, so the engine's own default applies; so is
//     a default, or a runtime_supports_json entry, that named the
//     runtime before Edit installed it;
//   - a runtime_supports_json that was ["crun", "runc"] on one line goes
//     with the runtime.
//
// The result is checked as Edit's is: it must parse to the original
// without exactly those settings, or Remove fails with ErrUnsupported.
func Remove(t Target, name string, src []byte, o Options) ([]byte, error) {
	return dispatch(t, name, src, o, map[Target]func([]byte, Options) ([]byte, error){
		Containerd: removeContainerd, Docker: removeDocker, Podman: removePodman,
	})
}

func notOurs(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotOurs, fmt.Sprintf(format, args...))
}

// onlyKeys refuses a table or object with a key rroctl does not write.
func onlyKeys(m map[string]any, what string, keys ...string) error {
	for k := range m {
		if !slices.Contains(keys, k) {
			return notOurs("%s has %q, which rroctl does not write", what, k)
		}
	}
	return nil
}

func removeContainerd(src []byte, o Options) ([]byte, error) {
	old, err := parseTOML(src)
	if err != nil {
		return nil, fmt.Errorf("%w as TOML: %w", ErrParse, err)
	}
	version, ok := old["version"].(int64)
	if _, known := criPlugin[version]; !ok || !known {
		// rroctl writes only into versions 2 and 3.
		return src, nil
	}
	cri := []string{"plugins", criPlugin[version], "containerd"}
	rt := append(cri[:3:3], "runtimes", o.RuntimeName)
	handler, err := lookupTable(old, rt, false)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrUnsupported, err)
	}
	if handler == nil {
		return src, nil
	}
	what := "runtime handler " + tomlKeyPath(rt)
	if err := onlyKeys(handler, what, "runtime_type", "pod_annotations", "options"); err != nil {
		return nil, err
	}
	if v := handler["runtime_type"]; v != "io.containerd.runc.v2" {
		return nil, notOurs("%s has runtime_type %v, not io.containerd.runc.v2", what, v)
	}
	if list, _ := stringList(handler["pod_annotations"]); !slices.Equal(list, PodAnnotations) && !slices.Equal(list, []string{legacyPodAnnotations}) {
		return nil, notOurs("%s has pod_annotations %q, not %q", what, list, PodAnnotations)
	}
	opts, _ := handler["options"].(map[string]any)
	if err := onlyKeys(opts, what+".options", "BinaryName", "Root"); err != nil {
		return nil, err
	}
	if v := opts["BinaryName"]; v != o.Binary {
		return nil, notOurs("%s runs %v, not %s (give that binary if rroctl installed it)", what, v, o.Binary)
	}
	if root, set := opts["Root"]; set {
		if s, isString := root.(string); !isString || o.RuncRoot != "" && s != o.RuncRoot {
			return nil, notOurs("%s has Root %v, not %s", what, root, o.RuncRoot)
		}
	}
	paths := [][]string{rt}
	if def, _ := lookupTable(old, cri, false); def["default_runtime_name"] == o.RuntimeName {
		paths = append(paths, append(cri[:3:3], "default_runtime_name"))
	}
	out, err := tomlRemove(src, old, paths, nil)
	if err != nil {
		return nil, err
	}
	// A config left saying nothing but its version: Edit wrote that
	// version into a file that had none.
	if left, _ := parseTOML(out); len(left) == 1 && left["version"] != nil {
		return tomlRemove(out, left, [][]string{{"version"}}, nil)
	}
	return out, nil
}

func removePodman(src []byte, o Options) ([]byte, error) {
	old, err := parseTOML(src)
	if err != nil {
		return nil, fmt.Errorf("%w as TOML: %w", ErrParse, err)
	}
	engine, err := lookupTable(old, []string{"engine"}, false)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrUnsupported, err)
	}
	runtimes, _ := engine["runtimes"].(map[string]any)
	cur, present := runtimes[o.RuntimeName]
	if !present {
		return src, nil
	}
	rt := []string{"engine", "runtimes", o.RuntimeName}
	if list, _ := stringList(cur); !slices.Equal(list, []string{o.Binary}) {
		return nil, notOurs("%s = %v, not [%q] (give that binary if rroctl installed it)", tomlKeyPath(rt), cur, o.Binary)
	}
	paths := [][]string{rt}
	if engine["runtime"] == o.RuntimeName {
		paths = append(paths, []string{"engine", "runtime"})
	}
	var lists []tomlChange
	if list, _ := stringList(engine["runtime_supports_json"]); slices.Contains(list, o.RuntimeName) {
		d, err := scanTOML(src)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
		}
		created := tomlStrings(editedList(podmanJSONRuntimes, []string{o.RuntimeName}, nil))
		if kv := d.findKV([]string{"engine", "runtime_supports_json"}); kv != nil && string(src[kv.valStart:kv.valEnd]) == created {
			paths = append(paths, []string{"engine", "runtime_supports_json"})
		} else if !slices.Contains(podmanJSONRuntimes, o.RuntimeName) {
			lists = append(lists, tomlChange{table: []string{"engine"}, key: "runtime_supports_json", drop: []string{o.RuntimeName}})
		}
	}
	return tomlRemove(src, old, paths, lists)
}

// tomlRemove deletes from src every key/value pair at or under one of
// paths, every table header at or under them, and every other header
// left without a pair by that; takes the strings of each list change's
// drop out of its array; and checks that the result parses to old
// without exactly those (empty tables aside: they mean nothing to the
// engines). Each line goes with what Edit put around it when it added
// it: a header with the blank line before it, and the newline before
// the last line of a text that has no final newline.
func tomlRemove(src []byte, old map[string]any, paths [][]string, lists []tomlChange) ([]byte, error) {
	want := deepCopy(old)
	out := src
	for _, c := range lists {
		table, _ := lookupTable(want, c.table, false)
		list, _ := stringList(table[c.key])
		var err error
		if out, err = tomlEditList(out, c, list); err != nil {
			return nil, fmt.Errorf("%w: cannot change %s: %v", ErrUnsupported, c, err)
		}
		if table != nil {
			// Without the table the text edit cannot be what was meant:
			// the re-parse check below refuses it.
			table[c.key] = toAny(editedList(list, nil, c.drop))
		}
	}
	d, err := scanTOML(out)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	under := func(p []string) bool {
		return slices.ContainsFunc(paths, func(q []string) bool { return len(p) >= len(q) && slices.Equal(p[:len(q)], q) })
	}
	var cuts []tomlSpan
	left := make([]int, len(d.headers)) // pairs each header keeps
	lost := make([]bool, len(d.headers))
	for i := range d.kvs {
		kv := &d.kvs[i]
		cut := under(d.fullPath(kv))
		if cut {
			cuts = append(cuts, tomlSpan{kv.start, kv.end})
		}
		if kv.header >= 0 {
			if cut {
				lost[kv.header] = true
			} else {
				left[kv.header]++
			}
		}
	}
	nl := newline(out)
	for i, h := range d.headers {
		if !under(h.path) && !(lost[i] && left[i] == 0) {
			continue
		}
		if h.array {
			return nil, fmt.Errorf("%w: [[%s]] is an array of tables", ErrUnsupported, tomlKeyPath(h.path))
		}
		start := h.start
		if bytes.HasSuffix(out[:start], []byte(nl+nl)) {
			start -= len(nl)
		}
		cuts = append(cuts, tomlSpan{start, h.end})
	}
	slices.SortFunc(cuts, func(a, b tomlSpan) int { return a.start - b.start })
	var merged []tomlSpan
	for _, c := range cuts {
		if n := len(merged); n > 0 && c.start <= merged[n-1].end {
			merged[n-1].end = max(merged[n-1].end, c.end)
			continue
		}
		merged = append(merged, c)
	}
	for i := len(merged) - 1; i >= 0; i-- {
		c := merged[i]
		if c.end == len(out) && !bytes.HasSuffix(out, []byte("\n")) && bytes.HasSuffix(out[:c.start], []byte(nl)) {
			c.start -= len(nl)
		}
		out = splice(out, c.start, c.end, "")
	}
	for _, p := range paths {
		if table, _ := lookupTable(want, p[:len(p)-1], false); table != nil {
			delete(table, p[len(p)-1])
		}
	}
	got, err := parseTOML(out)
	if err := checkMeaning(pruneEmpty(got), pruneEmpty(want), err, "a table defined inline or through dotted keys?"); err != nil {
		return nil, err
	}
	return out, nil
}

// pruneEmpty drops the tables that hold nothing, at any depth.
func pruneEmpty(m map[string]any) map[string]any {
	for k, v := range m {
		if t, ok := v.(map[string]any); ok {
			if len(pruneEmpty(t)) == 0 {
				delete(m, k)
			}
		}
	}
	return m
}

func removeDocker(src []byte, o Options) ([]byte, error) {
	if len(bytes.TrimSpace(src)) == 0 {
		return src, nil
	}
	old, err := parseJSON(src)
	if err != nil {
		return nil, err
	}
	runtimes, _ := old["runtimes"].(map[string]any)
	cur, present := runtimes[o.RuntimeName]
	if !present {
		return src, nil
	}
	what := "runtimes." + o.RuntimeName
	entry, ok := cur.(map[string]any)
	if !ok {
		return nil, notOurs("%s is a %s, not an object", what, jsonType(cur))
	}
	if err := onlyKeys(entry, what, "path", "runtimeArgs"); err != nil {
		return nil, err
	}
	if entry["path"] != o.Binary {
		return nil, notOurs("%s runs %v, not %s (give that binary if rroctl installed it)", what, entry["path"], o.Binary)
	}
	if args, present := entry["runtimeArgs"]; present {
		list, ok := stringList(args)
		policy, isPolicy := "", len(list) == 1 && strings.HasPrefix(list[0], "--"+argv.FlagPolicy+"=")
		if isPolicy {
			p, err := rewrite.ParsePolicy(strings.TrimPrefix(list[0], "--"+argv.FlagPolicy+"="))
			isPolicy, policy = err == nil, p.String()
		}
		if !ok || len(list) > 0 && (!isPolicy || o.Policy != "" && policy != o.Policy) {
			return nil, notOurs("%s has runtimeArgs %v, which rroctl does not write", what, args)
		}
	}

	want := copyValue(old).(map[string]any)
	out := src
	remove := func(path ...string) error {
		obj, _ := jsonLookup(want, path[:len(path)-1])
		delete(obj, path[len(path)-1])
		out, err = jsonDelete(out, path)
		return err
	}
	if err := remove("runtimes", o.RuntimeName); err != nil {
		return nil, err
	}
	// An object left empty goes too, unless taking it out would bring
	// back an earlier duplicate "runtimes".
	if len(want["runtimes"].(map[string]any)) == 0 {
		if next, err := jsonDelete(out, []string{"runtimes"}); err == nil {
			if m, err := parseJSON(next); err == nil && m["runtimes"] == nil {
				out = next
				delete(want, "runtimes")
			}
		}
	}
	if old["default-runtime"] == o.RuntimeName {
		if err := remove("default-runtime"); err != nil {
			return nil, err
		}
	}
	got, err := parseJSON(out)
	if err := checkMeaning(got, want, err, "duplicate keys?"); err != nil {
		return nil, err
	}
	if string(out) == "{}\n" {
		// What Edit starts from for an empty file.
		return []byte{}, nil
	}
	return out, nil
}

// jsonDelete deletes the member at path (the last of duplicate keys, the
// one dockerd reads) with the separator Edit wrote when it added it: the
// one before it, or for a first member the one after it; an object left
// empty becomes {}.
func jsonDelete(src []byte, path []string) ([]byte, error) {
	open := len(src) - len(bytes.TrimLeft(src, " \t\r\n"))
	for depth := 0; ; depth++ {
		members, closePos, err := jsonMembers(src, open)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
		}
		i := -1
		for j := range members {
			if members[j].key == path[depth] {
				i = j
			}
		}
		if i < 0 {
			return nil, fmt.Errorf("%w: %s not found in the text", ErrUnsupported, strings.Join(path[:depth+1], "."))
		}
		m := members[i]
		if depth < len(path)-1 {
			if src[m.valStart] != '{' {
				return nil, fmt.Errorf("%w: %s is not an object", ErrUnsupported, strings.Join(path[:depth+1], "."))
			}
			open = m.valStart
			continue
		}
		switch {
		case len(members) == 1:
			return splice(src, open+1, closePos, ""), nil
		case i > 0:
			return splice(src, members[i-1].valEnd, m.valEnd, ""), nil
		default:
			return splice(src, m.keyStart, members[1].keyStart, ""), nil
		}
	}
}
