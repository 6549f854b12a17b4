package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseStrace(t *testing.T) {
	tests := []struct {
		name      string
		trace     string
		processes int
		threads   int
		opens     []string
		execs     []string
		runtime   string
		wantErr   bool
	}{
		{
			name: "pass-through, detached at the runtime's execve",
			trace: `100 execve("/bin/rro-runc", ["rro-runc", "state", "x"], 0x7ffc /* 3 vars */) = 0
100 openat(AT_FDCWD, "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", O_RDONLY) = 3
100 clone(child_stack=0xc0, flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS, tls=0x1) = 101
101 openat(AT_FDCWD, "/etc/rro-runc/config.toml", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory)
101 execve("/usr/sbin/runc", ["/usr/sbin/runc", "state", "x"], 0xc0 /* 3 vars */ <detached ...>
`,
			threads: 1,
			opens:   []string{"/sys/kernel/mm/transparent_hugepage/hpage_pmd_size = 3", "/etc/rro-runc/config.toml = -1 ENOENT (No such file or directory)"},
			runtime: "/usr/sbin/runc",
		},
		{
			// A thread's first event can be printed before its creator's
			// clone returns; it is still the wrapper's.
			name: "thread event before clone returns, then a child process",
			trace: `100 execve("/bin/rro-runc", ["rro-runc"], 0x1 /* 3 vars */) = 0
100 clone(child_stack=0xc0, flags=CLONE_VM|CLONE_THREAD|CLONE_SETTLS, tls=0x1 <unfinished ...>
101 openat(AT_FDCWD, "/run/rro-runc/cache.json", O_RDONLY) = 3
100 <... clone resumed>) = 101
101 clone3({flags=CLONE_VM|CLONE_PIDFD|CLONE_VFORK|CLONE_CLEAR_SIGHAND, pidfd=0xc0, exit_signal=SIGCHLD, stack=0x0, stack_size=0x0}, 88 <unfinished ...>
102 execve("/usr/sbin/runc", ["runc", "features"], 0xc0 /* 3 vars */ <detached ...>
101 <... clone3 resumed>) = 102
100 execve("/usr/sbin/runc", ["/usr/sbin/runc", "create"], 0xc0 /* 3 vars */) = 0
100 openat(AT_FDCWD, "/after/exec", O_RDONLY) = 3
`,
			processes: 1,
			threads:   1,
			opens:     []string{"/run/rro-runc/cache.json = 3"},
			execs:     []string{"child 102: runc features = ? detached"},
			runtime:   "/usr/sbin/runc",
		},
		{
			// strace prints the final execve as unfinished when another
			// thread's line comes between; -b execve means it never resumes.
			name: "unfinished execve, never resumed",
			trace: `100 execve("/bin/rro-runc", ["rro-runc"], 0x1 /* 3 vars */) = 0
100 clone(child_stack=0xc0, flags=CLONE_VM|CLONE_THREAD|CLONE_SETTLS, tls=0x1) = 101
101 clone(child_stack=NULL, flags=CLONE_VM|CLONE_PIDFD|CLONE_VFORK|SIGCHLD <unfinished ...>
102 execve("/usr/sbin/runc", ["/usr/sbin/runc", "--version"], 0xc0 /* 37 vars */ <unfinished ...>
101 <... clone resumed>, parent_tid=[14]) = 102
100 execve("/usr/sbin/runc", ["/usr/sbin/runc", "create"], 0xc0 /* 3 vars */ <unfinished ...>
101 openat(AT_FDCWD, "/late", O_RDONLY) = 3
`,
			processes: 1,
			threads:   1,
			execs:     []string{"child 102: /usr/sbin/runc --version = ? detached"},
			runtime:   "/usr/sbin/runc",
		},
		{
			name: "a thread other than the leader execs",
			trace: `100 execve("/bin/rro-runc", ["rro-runc"], 0x1 /* 3 vars */) = 0
100 clone(child_stack=0xc0, flags=CLONE_VM|CLONE_THREAD|CLONE_SETTLS, tls=0x1) = 103
103 execve("/usr/sbin/runc", ["/usr/sbin/runc", "create"], 0x3d99b55d0c80 /* 37 vars */ <pid changed to 100 ...>
100 +++ superseded by execve in pid 103 +++
`,
			threads: 1,
			runtime: "/usr/sbin/runc",
		},
		{
			name: "unfinished execve that resumes with an error",
			trace: `100 execve("/bin/rro-runc", ["rro-runc"], 0x1 /* 3 vars */) = 0
100 execve("/nonexistent/runc", ["runc"], 0x1 /* 3 vars */ <unfinished ...>
100 <... execve resumed>) = -1 ENOENT (No such file or directory)
100 execve("/usr/sbin/runc", ["runc"], 0x1 /* 3 vars */) = 0
`,
			execs:   []string{"wrapper: runc = -1 ENOENT (No such file or directory)"},
			runtime: "/usr/sbin/runc",
		},
		{
			name: "a failed execve is not the runtime",
			trace: `100 execve("/bin/rro-runc", ["rro-runc"], 0x1 /* 3 vars */) = 0
100 execve("/nonexistent/runc", ["runc"], 0x1 /* 3 vars */) = -1 ENOENT (No such file or directory)
`,
			execs: []string{"wrapper: runc = -1 ENOENT (No such file or directory)"},
		},
		{
			name:    "does not start with the wrapper's execve",
			trace:   "100 openat(AT_FDCWD, \"/x\", O_RDONLY) = 3\n",
			wantErr: true,
		},
		{name: "empty", trace: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseStrace(strings.NewReader(tt.trace))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if c.processes != tt.processes || c.threads != tt.threads || c.runtime != tt.runtime {
				t.Errorf("processes, threads, runtime = %d, %d, %q; want %d, %d, %q", c.processes, c.threads, c.runtime, tt.processes, tt.threads, tt.runtime)
			}
			if !slices.Equal(c.opens, tt.opens) {
				t.Errorf("opens = %q, want %q", c.opens, tt.opens)
			}
			if !slices.Equal(c.execs, tt.execs) {
				t.Errorf("execs = %q, want %q", c.execs, tt.execs)
			}
		})
	}
}

func TestParseInitTrace(t *testing.T) {
	in := `init internal/bytealg @0 ms, 0 ms clock, 0 bytes, 0 allocs
init runtime @0.031 ms, 0.077 ms clock, 0 bytes, 0 allocs
some other stderr line
init github.com/BurntSushi/toml @0.5 ms, 0.120 ms clock, 4096 bytes, 33 allocs
`
	recs, err := parseInitTrace(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []initRecord{
		{pkg: "internal/bytealg"},
		{pkg: "runtime", at: 0.031, clock: 0.077},
		{pkg: "github.com/BurntSushi/toml", at: 0.5, clock: 0.12, bytes: 4096, allocs: 33},
	}
	if !slices.Equal(recs, want) {
		t.Errorf("got %+v, want %+v", recs, want)
	}
}

func TestStats(t *testing.T) {
	ms := func(v ...float64) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x*float64(time.Millisecond)))
		}
		return d
	}
	tests := []struct {
		name        string
		in          []time.Duration
		median, p90 float64
	}{
		{"odd", ms(3, 1, 2), 2, 2.8},
		{"even", ms(4, 1, 3, 2), 2.5, 3.7},
		{"one", ms(5), 5, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := summarize(tt.in)
			if diff(s.median, tt.median) > 1e-9 || diff(s.p90, tt.p90) > 1e-9 {
				t.Errorf("median, p90 = %v, %v; want %v, %v", s.median, s.p90, tt.median, tt.p90)
			}
		})
	}
}

func diff(a, b float64) float64 {
	if a > b {
		return a - b
	}
	return b - a
}

// Every side must take every position equally often, or a drift of the
// machine would favour one.
func TestOrderBalanced(t *testing.T) {
	for k := 2; k <= 5; k++ {
		seen := make([][]int, k)
		for i := range seen {
			seen[i] = make([]int, k)
		}
		rounds := 4 * k
		for i := 0; i < rounds; i++ {
			o := order(k, i)
			if s := slices.Sorted(slices.Values(o)); !slices.Equal(s, seq(k)) {
				t.Fatalf("k=%d round %d: order %v is not a permutation", k, i, o)
			}
			for pos, side := range o {
				seen[side][pos]++
			}
		}
		for side := range seen {
			for pos, n := range seen[side] {
				if n != rounds/k {
					t.Errorf("k=%d: side %d at position %d %d times in %d rounds, want %d", k, side, pos, n, rounds, rounds/k)
				}
			}
		}
	}
}

func seq(k int) []int {
	s := make([]int, k)
	for i := range s {
		s[i] = i
	}
	return s
}
