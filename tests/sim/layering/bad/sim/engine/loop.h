// Fixture: the other half of the cycle (see ../serving/policy.h).
#pragma once
#include "sim/serving/policy.h"
