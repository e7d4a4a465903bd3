package audit

// SetAfterAppend installs the crash-window hook (tests only).
func (s *Service) SetAfterAppend(fn func(n int)) { s.afterAppend.Store(&fn) }

// CloseConn closes the service's bus connection, as a crashed process would lose it.
func (s *Service) CloseConn() { s.nc.Close() }
