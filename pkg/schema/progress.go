package schema

// Progress is one report of a long-running job on bus.Subjects.Progress (a full reindex): the
// phase it is in and how far it has come (Total 0 = unknown).
type Progress struct {
	Job   string `json:"job"`
	Phase string `json:"phase"`
	Done  int    `json:"done"`
	Total int    `json:"total"`
}
