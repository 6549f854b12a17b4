package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// straceSyscalls are the events counted: every way to start a process or
// thread, and every file open.
const straceSyscalls = "execve,clone,clone3,fork,vfork,openat"

// counts is what the wrapper's own process did between its start and its
// execve of the runtime.
type counts struct {
	processes int      // children started (fork, vfork, clone without CLONE_THREAD)
	threads   int      // clone with CLONE_THREAD: the Go runtime's Ms
	execs     []string // execve attempts other than the runtime's, by the wrapper or its children
	opens     []string // openat paths with their result
	runtime   string   // what the wrapper finally exec'd; "" if it never did
}

var (
	lineRE    = regexp.MustCompile(`^(\d+)\s+(.*)$`)
	resumedRE = regexp.MustCompile(`^<\.\.\. (\w+) resumed>(.*)$`)
	callRE    = regexp.MustCompile(`^(\w+)\((.*)\)\s+=\s+(-?\d+|\?)(.*)$`)
	detachRE  = regexp.MustCompile(`^(.*) <(detached|pid changed to \d+) \.\.\.>$`)
	strArgRE  = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)
)

// event is one finished system call of the trace, in order of completion.
type event struct {
	pid             int
	name, args, ret string
	tail            string // errno and its text after the return value
}

// parseStrace reads `strace -f -o` output of one wrapper call whose first
// line is the wrapper's own execve. It attributes each event to the
// wrapper's thread group or to a child, and stops at the first successful
// execve by the thread group after its own: from there on it is the
// runtime, whose work is not the wrapper's cost.
//
// Membership is decided from all clone results first, because a new
// thread's first events can be printed before its creator's clone returns.
func parseStrace(r io.Reader) (counts, error) {
	var c counts
	var events []event
	pending := map[int]string{}
	execAt := map[int]int{} // pid → index in events of its unfinished execve
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		m := lineRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		rest := m[2]
		if before, ok := strings.CutSuffix(rest, " <unfinished ...>"); ok {
			pending[pid] = before
			// Under -b execve a process is let go as it enters execve, so
			// its execve may never resume: record it where it started and
			// fill in the result should it resume after all.
			if strings.HasPrefix(before, "execve(") {
				if cm := callRE.FindStringSubmatch(before + ") = ? detached"); cm != nil {
					execAt[pid] = len(events)
					events = append(events, event{pid: pid, name: cm[1], args: cm[2], ret: cm[3], tail: strings.TrimSpace(cm[4])})
				}
			}
			continue
		}
		if rm := resumedRE.FindStringSubmatch(rest); rm != nil {
			rest = pending[pid] + rm[2]
			delete(pending, pid)
			if i, ok := execAt[pid]; ok && rm[1] == "execve" {
				delete(execAt, pid)
				if cm := callRE.FindStringSubmatch(rest); cm != nil {
					events[i].ret, events[i].tail = cm[3], strings.TrimSpace(cm[4])
				}
				continue
			}
		}
		// -b execve: strace lets go of a process as it enters execve, so
		// the call never returns in the trace; the runtime's own work is
		// not traced at all.
		// A thread other than the leader that execs is reported as
		// "<pid changed to LEADER ...>": the execve succeeded.
		if sm := detachRE.FindStringSubmatch(rest); sm != nil {
			rest = sm[1] + ") = ? detached"
			if strings.HasPrefix(sm[2], "pid changed") {
				rest = sm[1] + ") = 0"
			}
		}
		cm := callRE.FindStringSubmatch(rest)
		if cm == nil {
			continue // signals, exits, anything that is not a finished call
		}
		events = append(events, event{pid: pid, name: cm[1], args: cm[2], ret: cm[3], tail: strings.TrimSpace(cm[4])})
	}
	if err := sc.Err(); err != nil {
		return c, err
	}
	if len(events) == 0 {
		return c, fmt.Errorf("empty strace output")
	}
	if events[0].name != "execve" {
		return c, fmt.Errorf("strace output does not start with the wrapper's execve but with %s", events[0].name)
	}
	first := events[0].pid

	type link struct {
		parent int
		thread bool
	}
	parents := map[int]link{}
	for _, e := range events {
		switch e.name {
		case "clone", "clone3", "fork", "vfork":
			if child, err := strconv.Atoi(e.ret); err == nil && child > 0 {
				thread := (e.name == "clone" || e.name == "clone3") && strings.Contains(e.args, "CLONE_THREAD")
				parents[child] = link{e.pid, thread}
			}
		}
	}
	var member func(pid, depth int) bool
	member = func(pid, depth int) bool {
		if pid == first {
			return true
		}
		l, ok := parents[pid]
		return ok && l.thread && depth < 1000 && member(l.parent, depth+1)
	}

	for _, e := range events[1:] {
		inGroup := member(e.pid, 0)
		ok := e.ret != "?" && !strings.HasPrefix(e.ret, "-")
		detached := e.ret == "?" && e.tail == "detached"
		switch e.name {
		case "execve":
			path := firstString(e.args)
			shown := execArgv(e.args)
			if inGroup && (ok || detached) {
				c.runtime = path
				return c, nil
			}
			who := "wrapper"
			if !inGroup {
				who = "child " + strconv.Itoa(e.pid)
			}
			c.execs = append(c.execs, strings.TrimSpace(fmt.Sprintf("%s: %s = %s %s", who, shown, e.ret, e.tail)))
		case "clone", "clone3", "fork", "vfork":
			if !inGroup || !ok {
				continue
			}
			if child, err := strconv.Atoi(e.ret); err == nil && parents[child].thread {
				c.threads++
			} else {
				c.processes++
			}
		case "openat":
			if inGroup {
				res := e.ret
				if !ok {
					res = strings.TrimSpace(e.ret + " " + e.tail)
				}
				c.opens = append(c.opens, fmt.Sprintf("%s = %s", firstString(e.args), res))
			}
		}
	}
	return c, nil
}

var argvRE = regexp.MustCompile(`^"(?:[^"\\]|\\.)*", \[(.*?)\](?:, |$)`)

// execArgv shows an execve's argv as a command line, or its path when
// strace abbreviated the list.
func execArgv(args string) string {
	m := argvRE.FindStringSubmatch(args)
	if m == nil {
		return firstString(args)
	}
	var words []string
	for _, w := range strArgRE.FindAllStringSubmatch(m[1], -1) {
		words = append(words, w[1])
	}
	if len(words) == 0 {
		return firstString(args)
	}
	return strings.Join(words, " ")
}

func firstString(args string) string {
	if m := strArgRE.FindStringSubmatch(args); m != nil {
		return m[1]
	}
	return args
}

// traceCall runs one wrapper call under strace and counts.
func traceCall(f *fixture, strace string, sd side, args []string) (counts, error) {
	out := filepath.Join(f.dir, "strace.out")
	full := []string{"-f", "-b", "execve", "-qq", "-s", "4096", "-e", "signal=none", "-e", "trace=" + straceSyscalls, "-o", out}
	if sd.cred != nil { // strace runs the call as that user, named
		u, err := user.LookupId(strconv.Itoa(int(sd.cred.Uid)))
		if err != nil {
			return counts{}, err
		}
		full = append(full, "-u", u.Username)
	}
	full = append(append(full, "--", sd.path), args...)
	if _, err := f.run(strace, full, sd.env); err != nil {
		return counts{}, err
	}
	fh, err := os.Open(out)
	if err != nil {
		return counts{}, err
	}
	defer fh.Close()
	return parseStrace(fh)
}

func findStrace() (string, error) {
	p, err := exec.LookPath("strace")
	if err != nil {
		return "", fmt.Errorf("strace is needed to count processes and opens (apt-get install strace; bench/run.sh does): %w", err)
	}
	return p, nil
}
