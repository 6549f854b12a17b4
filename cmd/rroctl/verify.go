package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/moby/sys/mountinfo"
	"github.com/urfave/cli/v2"

	"github.com/rro-runc/rro-runc/internal/launch"
	"github.com/rro-runc/rro-runc/internal/policy"
	"github.com/rro-runc/rro-runc/internal/specfile"
	"github.com/rro-runc/rro-runc/rewrite"
)

// stateTimeout bounds `RUNTIME state`: a hung runtime must not hang a
// CI pipeline.
const stateTimeout = 10 * time.Second

// maxStateOutput bounds what is kept of the runtime's output; a real
// state is well under 4 KiB.
const maxStateOutput = 1 << 20

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "prove from its mount table that a running container's read-only volumes are read-only all the way down",
		ArgsUsage: "ID | --pid PID",
		Description: "Reads the container's mount table (/proc/PID/mountinfo) and the mounts of its\n" +
			"bundle's config.json, and shows each read-only volume (a bind mount whose\n" +
			"options end up ro) as the tree of every mount at or under its destination,\n" +
			"each marked ro or rw. Any rw mount in such a tree is a finding.\n\n" +
			"With ID, the PID and bundle come from `RUNTIME [--root DIR] state ID` (the\n" +
			"configured runtime, or --runtime). With --pid, no runtime is asked: the read-only\n" +
			"volumes are taken from --bundle's config.json when given, otherwise from the mount\n" +
			"table itself: every mount whose own mount options say ro, except / and the\n" +
			"excluded destinations (/dev, /proc, /sys by default), and not below another such\n" +
			"mount.\n\n" +
			"A destination through a symlink in the rootfs is looked up where the runtime\n" +
			"mounted it, resolved inside /proc/PID/root as runc resolves it.\n\n" +
			"Volumes at excluded destinations (the configuration's exclude list) are shown but\n" +
			"not counted. A mount hidden under another mount at the same place is shown as\n" +
			"covered and not counted: nothing can reach it by path.\n\n" +
			"Flags go before the arguments.\n\n" +
			"Exit status: 0 every read-only volume is read-only throughout, 1 a writable mount\n" +
			"under a read-only volume (or a volume missing from the mount table), 2 bad usage\n" +
			"or input (no such container, stopped container, PID gone, runtime not executable).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root", TakesFile: true, Usage: "the runtime's state `DIR` (its --root; default: the runtime's own)"},
			&cli.StringFlag{Name: "runtime", TakesFile: true, Usage: "ask the runtime at `PATH` for the container's state (default: the configured runtime)"},
			&cli.IntFlag{Name: "pid", DefaultText: "none", Usage: "read the mount table of `PID` instead of asking a runtime"},
			&cli.StringFlag{Name: "bundle", TakesFile: true, Usage: "with --pid: the bundle `DIR` whose config.json names the volumes"},
			rroConfigFlag, formatFlag,
		},
		Action: runVerify,
	}
}

// containerState is what verify needs from `RUNTIME state ID`.
type containerState struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Pid    int    `json:"pid"`
	Bundle string `json:"bundle"`
}

// verifyReport is `rroctl verify --format json`.
type verifyReport struct {
	Container *verifiedContainer `json:"container,omitempty"`
	Pid       int                `json:"pid"`
	// VolumesFrom is "config" (the bundle's mounts) or "mountinfo".
	VolumesFrom string           `json:"volumesFrom"`
	Volumes     []verifiedVolume `json:"volumes"`
	OK          bool             `json:"ok"`
}

type verifiedContainer struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Bundle  string `json:"bundle"`
	Runtime string `json:"runtime"`
	Root    string `json:"root,omitempty"`
}

type verifiedVolume struct {
	Destination string `json:"destination"`
	// MountedAt is where the runtime mounted it, when the destination
	// goes through a symlink in the container's rootfs.
	MountedAt string   `json:"mountedAt,omitempty"`
	Source    string   `json:"source,omitempty"`
	Options   []string `json:"options"`
	// ExcludedBy is the exclude entry that takes the volume out of the
	// count, "" when it counts.
	ExcludedBy string          `json:"excludedBy,omitempty"`
	Mounts     []verifiedMount `json:"mounts"`
	// Missing: nothing is mounted at the destination.
	Missing   bool     `json:"missing"`
	Writable  []string `json:"writable"`
	Protected bool     `json:"protected"`
}

type verifiedMount struct {
	ID           int    `json:"id"`
	Parent       int    `json:"parent"`
	Mountpoint   string `json:"mountpoint"`
	FSType       string `json:"fstype"`
	Source       string `json:"source"`
	Root         string `json:"root"`
	Options      string `json:"options"`
	SuperOptions string `json:"superOptions"`
	// ReadOnly: the mount or its filesystem is read-only.
	ReadOnly bool `json:"readOnly"`
	// Covered: another mount sits on top of it at the same place, or on
	// top of a mount it lives in.
	Covered bool `json:"covered"`
	Depth   int  `json:"depth"`
}

// volume is a read-only volume to verify.
type volume struct {
	// destination is as the config names it; at is where it is mounted.
	destination, at, source string
	options                 []string
	excludedBy              string
}

func runVerify(c *cli.Context) error {
	asJSON, err := outputFormat(c)
	if err != nil {
		return err
	}
	if err := flagsFirst(c); err != nil {
		return err
	}
	pid := c.Int("pid")
	byPid := c.IsSet("pid")
	switch {
	case byPid && c.NArg() > 0:
		return inputError("verify: give a container ID or --pid, not both")
	case !byPid && c.NArg() != 1:
		return inputError("verify: name one container ID, or use --pid PID")
	case byPid && pid <= 0:
		return inputError("verify: --pid %d is not a process ID", pid)
	case byPid && (c.IsSet("root") || c.IsSet("runtime")):
		return inputError("verify: --root and --runtime are for a container ID; --pid asks no runtime")
	case !byPid && c.IsSet("bundle"):
		return inputError("verify: --bundle is for --pid; with a container ID the runtime names the bundle")
	}
	s, err := loadSettings(c, c.String("runtime"))
	if err != nil {
		return err
	}

	rep := verifyReport{Pid: pid, Volumes: []verifiedVolume{}}
	bundle := c.String("bundle")
	if !byPid {
		ctr, ctrPid, err := containerFromRuntime(c, s, c.Args().First())
		if err != nil {
			return err
		}
		rep.Container, rep.Pid, bundle = ctr, ctrPid, ctr.Bundle
	}
	mounts, err := readMountinfo(rep.Pid)
	if err != nil {
		return inputError("verify: %v", err)
	}
	var vols []volume
	if bundle != "" {
		rep.VolumesFrom = "config"
		if vols, err = volumesFromBundle(bundle, s); err != nil {
			return inputError("verify: %v", err)
		}
		root := fmt.Sprintf("/proc/%d/root", rep.Pid)
		for i := range vols {
			vols[i].at = resolveIn(root, vols[i].destination)
		}
	} else {
		rep.VolumesFrom = "mountinfo"
		// Without a config, the runtime's own /dev, /proc and /sys mounts
		// cannot be told from volumes by their source: skip them by place.
		vols = volumesFromMountinfo(mounts, append(slices.Clone(s.Exclude), "/dev", "/proc", "/sys"))
	}
	rep.OK = true
	covered := coveredMounts(mounts)
	for _, v := range vols {
		vv := verifyVolume(v, mounts, covered)
		if !vv.Protected && vv.ExcludedBy == "" {
			rep.OK = false
		}
		rep.Volumes = append(rep.Volumes, vv)
	}

	if asJSON {
		if err := writeJSON(c.App.Writer, rep); err != nil {
			return err
		}
	} else {
		printVerify(c.App.Writer, rep)
	}
	if !rep.OK {
		return cli.Exit("verify: "+verifySummary(rep), exitFinding)
	}
	return nil
}

// containerFromRuntime asks the runtime for the container's state.
func containerFromRuntime(c *cli.Context, s *policy.Settings, id string) (*verifiedContainer, int, error) {
	runtime, err := launch.Resolve(s.Runtime)
	if err != nil {
		return nil, 0, inputError("verify: %v", err)
	}
	args := []string{"state", id}
	if root := c.String("root"); root != "" {
		args = append([]string{"--root", root}, args...)
	}
	st, err := runtimeState(runtime, args)
	if err != nil {
		return nil, 0, inputError("verify: container %s: %v", printable(id), err)
	}
	switch {
	case st.Pid <= 0 || st.Status == "stopped":
		return nil, 0, inputError("verify: container %s is %s: it has no mount table to read", printable(id), st.Status)
	case st.Bundle == "":
		return nil, 0, inputError("verify: container %s: %s state names no bundle", printable(id), runtime)
	}
	return &verifiedContainer{ID: id, Status: st.Status, Bundle: st.Bundle, Runtime: runtime, Root: c.String("root")}, st.Pid, nil
}

// runtimeState runs `RUNTIME args...` (a state command) with a timeout
// and parses its JSON.
func runtimeState(runtime string, args []string) (*containerState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, runtime, args...)
	var stdout, stderr capped
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s %s: no answer within %s", runtime, strings.Join(args, " "), stateTimeout)
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		return nil, fmt.Errorf("%s %s: %v: %s", runtime, strings.Join(args, " "), err, lastLine(msg))
	}
	var st containerState
	if err := json.Unmarshal(stdout.Bytes(), &st); err != nil {
		return nil, fmt.Errorf("%s %s printed no state JSON: %v", runtime, strings.Join(args, " "), err)
	}
	return &st, nil
}

// lastLine keeps the runtime's final message: runc logs the reason last.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	line := strings.TrimSpace(lines[len(lines)-1])
	if len(line) > 300 {
		line = line[:300] + "..."
	}
	return line
}

// capped is a buffer that keeps at most maxStateOutput bytes and drops
// the rest, so a runaway runtime cannot exhaust memory.
type capped struct{ bytes.Buffer }

func (b *capped) Write(p []byte) (int, error) {
	if room := maxStateOutput - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// volumesFromBundle returns the read-only bind mounts of the bundle's
// config.json, read by rro-runc's own analysis.
func volumesFromBundle(bundle string, s *policy.Settings) ([]volume, error) {
	p := filepath.Join(bundle, "config.json")
	data, _, err := specfile.Read(p)
	if err != nil {
		return nil, err
	}
	opts := s.Options()
	plan, err := rewrite.Analyze(data, opts)
	if errors.Is(err, rewrite.ErrAnnotation) {
		// The container runs, so whatever its annotations say was accepted
		// by whoever started it; only the mounts matter here.
		opts.Policy = rewrite.Disabled
		plan, err = rewrite.Analyze(data, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	// A later mount at the same destination is the one the container sees.
	last := map[string]int{}
	for i, d := range plan.Mounts {
		last[path.Clean("/"+d.Destination)] = i
	}
	var vols []volume
	for i, d := range plan.Mounts {
		dest := path.Clean("/" + d.Destination)
		if last[dest] != i || !rewrite.ReadOnlyBind(d.Before) {
			continue
		}
		vols = append(vols, volume{destination: dest, source: d.Source, options: d.Before, excludedBy: rewrite.Excluded(dest, d.Source, plan.Exclude)})
	}
	return vols, nil
}

// maxSymlinks bounds symlink hops in resolveIn, as the kernel's 40 does.
const maxSymlinks = 255

// resolveIn resolves dest inside root (a /proc/PID/root) as runc resolves
// a mount destination in the rootfs (securejoin): each symlink is read and
// followed as if root were /, and can never leave it. A component that
// does not exist or cannot be read ends the resolution there. The result
// is where the runtime mounted the volume, which is what mountinfo shows.
func resolveIn(root, dest string) string {
	resolved := "/"
	todo := strings.Split(path.Clean("/"+dest), "/")
	for hops := 0; len(todo) > 0; {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			resolved = path.Dir(resolved)
			continue
		}
		next := path.Join(resolved, c)
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			resolved = next // not a symlink, or not there: runc would create it
			continue
		}
		if hops++; hops > maxSymlinks {
			return path.Clean("/" + dest)
		}
		if path.IsAbs(target) {
			resolved = "/"
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	return resolved
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// volumesFromMountinfo treats each visible mount whose own options say ro
// as a read-only volume, except / and excluded places, and except mounts
// below another such volume (they are part of its tree).
func volumesFromMountinfo(mounts []*mountinfo.Info, exclude []string) []volume {
	covered := coveredMounts(mounts)
	sorted := slices.Clone(mounts)
	slices.SortStableFunc(sorted, func(a, b *mountinfo.Info) int { return strings.Compare(a.Mountpoint, b.Mountpoint) })
	var vols []volume
	for _, m := range sorted {
		if m.Mountpoint == "/" || covered[m.ID] || !hasOption(m.Options, "ro") || rewrite.ExcludedBy(m.Mountpoint, exclude) != "" {
			continue
		}
		if slices.ContainsFunc(vols, func(v volume) bool { return within(m.Mountpoint, v.destination) }) {
			continue
		}
		source := m.Source
		if m.Root != "/" {
			source += "[" + m.Root + "]" // findmnt's spelling of a bind's origin
		}
		vols = append(vols, volume{destination: m.Mountpoint, source: source, options: strings.Split(m.Options, ",")})
	}
	return vols
}

func hasOption(list, opt string) bool {
	return slices.Contains(strings.Split(list, ","), opt)
}

// coveredMounts returns the IDs of mounts no path reaches: those with
// another mount on top at the same mountpoint, and everything that lives
// in them.
func coveredMounts(mounts []*mountinfo.Info) map[int]bool {
	byID := map[int]*mountinfo.Info{}
	top := map[int]bool{} // has a mount on top of it at the same place
	for _, m := range mounts {
		byID[m.ID] = m
	}
	for _, m := range mounts {
		if p, ok := byID[m.Parent]; ok && p.ID != m.ID && p.Mountpoint == m.Mountpoint {
			top[p.ID] = true
		}
	}
	// parentOf is the mount m sits in, or nil at the top of the table
	// (and in a hostile table that loops).
	parentOf := func(m *mountinfo.Info) *mountinfo.Info {
		if p, ok := byID[m.Parent]; ok && p.ID != m.ID {
			return p
		}
		return nil
	}
	covered := map[int]bool{}
	for _, m := range mounts {
		// m is reachable when it is the top of its stack and the mount the
		// bottom of that stack sits in is reachable.
		for cur, steps := m, 0; cur != nil && steps <= len(mounts); steps++ {
			if top[cur.ID] {
				covered[m.ID] = true
				break
			}
			bottom := cur
			for p := parentOf(bottom); p != nil && p.Mountpoint == bottom.Mountpoint && steps <= len(mounts); p = parentOf(bottom) {
				bottom = p
				steps++
			}
			cur = parentOf(bottom)
		}
	}
	return covered
}

// verifyVolume collects every mount at or under v's destination, as a tree
// in mount order, and finds the writable ones.
func verifyVolume(v volume, mounts []*mountinfo.Info, covered map[int]bool) verifiedVolume {
	vv := verifiedVolume{Destination: v.destination, Source: v.source, Options: v.options, ExcludedBy: v.excludedBy, Writable: []string{}, Mounts: []verifiedMount{}}
	at := v.destination
	if v.at != "" && v.at != v.destination {
		at, vv.MountedAt = v.at, v.at
	}
	var under []*mountinfo.Info
	for _, m := range mounts {
		if within(m.Mountpoint, at) {
			under = append(under, m)
		}
	}
	inSet := map[int]*mountinfo.Info{}
	for _, m := range under {
		inSet[m.ID] = m
	}
	children := map[int][]*mountinfo.Info{}
	var roots []*mountinfo.Info
	for _, m := range under {
		if p, ok := inSet[m.Parent]; ok && p.ID != m.ID {
			children[p.ID] = append(children[p.ID], m)
		} else {
			roots = append(roots, m)
		}
	}
	byPath := func(a, b *mountinfo.Info) int { return strings.Compare(a.Mountpoint, b.Mountpoint) }
	slices.SortStableFunc(roots, byPath)
	var walk func(m *mountinfo.Info, depth int)
	walk = func(m *mountinfo.Info, depth int) {
		if depth > len(under) {
			return // a parent loop in a hostile mountinfo; the kernel makes none
		}
		vm := verifiedMount{
			ID: m.ID, Parent: m.Parent, Mountpoint: m.Mountpoint, FSType: m.FSType, Source: m.Source,
			Root: m.Root, Options: m.Options, SuperOptions: m.VFSOptions,
			ReadOnly: hasOption(m.Options, "ro") || hasOption(m.VFSOptions, "ro"),
			Covered:  covered[m.ID], Depth: depth,
		}
		vv.Mounts = append(vv.Mounts, vm)
		if !vm.ReadOnly && !vm.Covered {
			vv.Writable = append(vv.Writable, m.Mountpoint)
		}
		kids := children[m.ID]
		slices.SortStableFunc(kids, byPath)
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	vv.Missing = !slices.ContainsFunc(vv.Mounts, func(m verifiedMount) bool { return m.Mountpoint == at && !m.Covered })
	vv.Protected = !vv.Missing && len(vv.Writable) == 0
	return vv
}

func printVerify(out io.Writer, rep verifyReport) {
	if c := rep.Container; c != nil {
		runtime := c.Runtime
		if c.Root != "" {
			runtime += " --root " + c.Root
		}
		fmt.Fprintf(out, "container %s: %s, pid %d, bundle %s (from %s state)\n", printable(c.ID), c.Status, rep.Pid, c.Bundle, runtime)
	} else {
		fmt.Fprintf(out, "pid %d\n", rep.Pid)
	}
	if len(rep.Volumes) == 0 {
		from := "its config.json has no read-only bind mount"
		if rep.VolumesFrom == "mountinfo" {
			from = "no mount other than / and the excluded ones is read-only"
		}
		fmt.Fprintf(out, "\nno read-only volume: %s\n", from)
	}
	for _, v := range rep.Volumes {
		fmt.Fprintf(out, "\nvolume %s", printable(v.Destination))
		if v.MountedAt != "" {
			fmt.Fprintf(out, " (mounted at %s: a symlink in the rootfs)", printable(v.MountedAt))
		}
		if v.Source != "" {
			fmt.Fprintf(out, " from %s", printable(v.Source))
		}
		fmt.Fprintf(out, " (%s)\n", optionList(v.Options))
		w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		printTree(w, v.Mounts)
		w.Flush()
		var verdict string
		switch {
		case v.ExcludedBy != "":
			verdict = "not counted: excluded by " + v.ExcludedBy
		case v.Missing:
			verdict = "NOT PROTECTED: nothing is mounted at " + printable(cmp.Or(v.MountedAt, v.Destination))
		case len(v.Writable) > 0:
			verdict = "NOT PROTECTED: writable: " + strings.Join(quoteAll(v.Writable), ", ")
		default:
			verdict = fmt.Sprintf("protected: all %d mounts read-only", len(v.Mounts))
		}
		fmt.Fprintf(out, "  %s\n", verdict)
	}
	fmt.Fprintf(out, "\nresult: %s\n", verifySummary(rep))
}

// printTree draws the mounts (in walk order, with depths) as a tree.
func printTree(w io.Writer, ms []verifiedMount) {
	for i, m := range ms {
		var prefix strings.Builder
		for d := 1; d <= m.Depth; d++ {
			// Is there a later mount at depth d before the next shallower one?
			more := false
			for _, n := range ms[i+1:] {
				if n.Depth < d {
					break
				}
				if n.Depth == d {
					more = true
					break
				}
			}
			switch {
			case d < m.Depth && more:
				prefix.WriteString("│   ")
			case d < m.Depth:
				prefix.WriteString("    ")
			case more:
				prefix.WriteString("├── ")
			default:
				prefix.WriteString("└── ")
			}
		}
		mode := "rw"
		if m.ReadOnly {
			mode = "ro"
		}
		note := ""
		if m.Covered {
			note = " (covered: not reachable, not counted)"
		}
		fmt.Fprintf(w, "  %s\t%s%s\t%s\t%s%s\n", mode, prefix.String(), printable(m.Mountpoint), m.FSType, cell(m.Source), note)
	}
}

func verifySummary(rep verifyReport) string {
	var bad []string
	counted := 0
	for _, v := range rep.Volumes {
		if v.ExcludedBy != "" {
			continue
		}
		counted++
		switch {
		case v.Missing:
			bad = append(bad, printable(v.Destination)+" is not mounted")
		case len(v.Writable) > 0:
			bad = append(bad, fmt.Sprintf("%s has %d writable mount(s)", printable(v.Destination), len(v.Writable)))
		}
	}
	if len(bad) > 0 {
		return "NOT PROTECTED: " + strings.Join(bad, "; ")
	}
	if counted == 0 {
		return "ok: no read-only volume to verify"
	}
	return fmt.Sprintf("ok: %d read-only volume(s), every mount in them read-only", counted)
}

// readMountinfo reads and parses /proc/PID/mountinfo; an error names the
// PID and says when the process is gone.
func readMountinfo(pid int) ([]*mountinfo.Info, error) {
	p := fmt.Sprintf("/proc/%d/mountinfo", pid)
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("process %d does not exist (gone?): %w", pid, err)
		}
		return nil, fmt.Errorf("process %d: %w", pid, err)
	}
	defer f.Close()
	mounts, err := parseMountinfo(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return mounts, nil
}
