// Replaced by the report writer sources.
namespace quadrant::reports {}
