package capstore

// SetAfterApply installs the crash window hook (tests only).
func (s *Service) SetAfterApply(fn func(verb string)) { s.afterApply.Store(&fn) }

// CloseConn closes the service's bus connection, as a crashed process would lose it.
func (s *Service) CloseConn() { s.nc.Close() }

// SetBeforeApply installs the store-failure hook (tests only).
func (s *Service) SetBeforeApply(fn func(verb string) error) { s.beforeApply.Store(&fn) }
