package probe

// Kernel is what the running kernel offers.
type Kernel struct {
	Release      string `json:"release"`      // uname -r
	MountSetattr bool   `json:"mountSetattr"` // mount_setattr(2) is usable (Linux >= 5.12, not blocked)
	Method       string `json:"method"`       // how MountSetattr was decided
}
