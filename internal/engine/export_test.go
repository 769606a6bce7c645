package engine

// SetImageFloor lets a test keep every checkpoint a delta, so that it can
// roll back to any of them.
func SetImageFloor(b int64) (restore func()) {
	old := imageFloor
	imageFloor = b
	return func() { imageFloor = old }
}
