package query

// WholeHistoryPaged is WholeHistory reading pageSize overrides a Query,
// so that a test crosses pages with a few overrides.
var WholeHistoryPaged = (*Reader).wholeHistory
