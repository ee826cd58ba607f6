// Replaced by the calibration library sources.
namespace quadrant::calibration {}
