package airlock

// SetAfterApply installs the crash window hook (tests only).
func (s *Service) SetAfterApply(fn func(verb string)) { s.afterApply.Store(&fn) }

// CloseConn closes the service's bus connection, as a crashed process would lose it.
func (s *Service) CloseConn() { s.nc.Close() }

// AllowShortFloor lets c carry a review floor at or below MinFloor, for tests whose fake clock
// must land inside the staging window; no deployment config can set it.
func AllowShortFloor(c *Config) { c.shortFloor = true }
