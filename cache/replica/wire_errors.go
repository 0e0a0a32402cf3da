package replica

import "fmt"

// FormatError is a message that is not a well-formed change: truncated, corrupted, or made by
// something other than sheetsync. Offset is the byte where decoding stopped, so an operator can
// look at the message with a hex dump (docs/wire-format.md gives the layout).
type FormatError struct {
	Offset int
	Reason string
}

func (e *FormatError) Error() string { return fmt.Sprintf("byte %d: %s", e.Offset, e.Reason) }

// VersionError is a well-marked change in a wire version this build cannot read. A follower
// must stop on it rather than skip the message: skipping would leave this replica behind the
// others for good. The cure is to upgrade the replica (docs/wire-format.md, "Versions").
type VersionError struct {
	Version uint64
}

func (e *VersionError) Error() string {
	if e.Version > WireVersion {
		return fmt.Sprintf("change wire version %d is newer than this build reads (%d to %d): upgrade this replica",
			e.Version, minWireVersion, WireVersion)
	}
	return fmt.Sprintf("change wire version %d is not one this build reads (%d to %d)", e.Version, minWireVersion, WireVersion)
}
