#include "sim/model/accounting.h"
#include <gtest/gtest.h>
TEST(Accounting, Placeholder) { SUCCEED(); }
