// Go runtime settings for start-up, measured side by side with the Go
// exec-only floor (make bench; README "Performance"):
//
//   - updatemaxprocs=0: no background re-reading of the cgroup CPU quota;
//     rro-runc lives about a millisecond and then execs the runtime.
//   - decoratemappings=0: no prctl(PR_SET_VMA) naming of each anonymous
//     mapping the heap makes; the names only help a debugger.
//
// Not containermaxprocs=0: the runtime opens /proc/self/cgroup, mountinfo
// and the CPU quota before main either way (runtime/cgroup_linux.go
// still reads them to count the non-default behaviour), so it saves none
// of those opens.

//go:debug updatemaxprocs=0
//go:debug decoratemappings=0
package main
