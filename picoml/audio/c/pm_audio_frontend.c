/* picoml keyword-spotting frontend: see pm_audio_frontend.h.
 *
 * Each stage follows tflite-micro's signal/src reference (window.cc, fft_auto_scale.cc,
 * kiss_fft FIXED_POINT=16 as wrapped by rfft_int16.cc, energy.cc, filter_bank.cc,
 * square_root_64.cc, filter_bank_spectral_subtraction.cc, pcan_argc_fixed.cc, log.cc,
 * filter_bank_log.cc) and the int32 ops closing audio_preprocessor_int8.tflite. Where that C
 * relies on implementation-defined behaviour (storing out-of-range values into int16_t, right
 * shifts of negative values, int32 overflow), the helpers below spell out the two's-complement
 * result it has on every target tflite-micro runs on, so this file is portable C99.
 *
 * Tables: the window, filter bank, PCAN gain LUT are the constants stored in
 * audio_preprocessor_int8.tflite; the twiddles are kiss_fft's floor(0.5 + 32767 cos/sin).
 * (tests/audio/test_audio_c.py checks every table against the model and the NumPy twin.)
 */
#include "pm_audio_frontend.h"

#define FFT_LENGTH 512
#define FFT_POINTS (FFT_LENGTH / 2) /* the real FFT runs as a complex FFT of half the length */
#define NUM_BINS (FFT_POINTS + 1)
#define WINDOW_SHIFT 12
#define ENERGY_START 5
#define ENERGY_END 241
#define SS_SMOOTHING 409u             /* 0.025 in Q14, even channels */
#define SS_ONE_MINUS_SMOOTHING 15975u
#define SS_ALT_SMOOTHING 983u         /* 0.06 in Q14, odd channels */
#define SS_ALT_ONE_MINUS_SMOOTHING 15401u
#define SS_MIN_SIGNAL_REMAINING 819u  /* 0.05 in Q14 */
#define SS_SMOOTHING_BITS 10
#define SS_BITS 14
#define PCAN_SNR_SHIFT 6
#define PCAN_SNR_BITS 12
#define PCAN_OUTPUT_BITS 6
#define LOG_SCALE 64u
#define LOG_CORRECTION_BITS 3
#define LOG_COEFF 45426u               /* ln(2) in Q16 */
#define INT8_MUL 256
#define INT8_ADD 333
#define INT8_DIV 666
#define INT8_OFFSET (-128)

/* ---- tables (generated from the model; do not edit by hand) ---- */
static const int16_t kWindow[PM_MS_FRAME_SAMPLES] = {
    0, 0, 1, 2, 4, 5, 7, 10, 13, 16, 19, 23,
    27, 32, 37, 42, 48, 53, 60, 66, 73, 81, 88, 96,
    104, 113, 122, 131, 141, 151, 161, 172, 183, 194, 205, 217,
    229, 242, 255, 268, 281, 295, 309, 323, 338, 353, 368, 383,
    399, 415, 431, 448, 465, 482, 499, 517, 535, 553, 572, 590,
    609, 629, 648, 668, 688, 708, 728, 749, 770, 791, 812, 833,
    855, 877, 899, 921, 944, 967, 989, 1012, 1036, 1059, 1083, 1106,
    1130, 1154, 1178, 1203, 1227, 1252, 1277, 1302, 1327, 1352, 1377, 1402,
    1428, 1453, 1479, 1505, 1531, 1557, 1583, 1609, 1635, 1662, 1688, 1714,
    1741, 1767, 1794, 1821, 1847, 1874, 1901, 1927, 1954, 1981, 2008, 2035,
    2061, 2088, 2115, 2142, 2169, 2195, 2222, 2249, 2275, 2302, 2329, 2355,
    2382, 2408, 2434, 2461, 2487, 2513, 2539, 2565, 2591, 2617, 2643, 2668,
    2694, 2719, 2744, 2769, 2794, 2819, 2844, 2869, 2893, 2918, 2942, 2966,
    2990, 3013, 3037, 3060, 3084, 3107, 3129, 3152, 3175, 3197, 3219, 3241,
    3263, 3284, 3305, 3326, 3347, 3368, 3388, 3408, 3428, 3448, 3467, 3487,
    3506, 3524, 3543, 3561, 3579, 3597, 3614, 3631, 3648, 3665, 3681, 3697,
    3713, 3728, 3743, 3758, 3773, 3787, 3801, 3815, 3828, 3841, 3854, 3867,
    3879, 3891, 3902, 3913, 3924, 3935, 3945, 3955, 3965, 3974, 3983, 3992,
    4000, 4008, 4015, 4023, 4030, 4036, 4043, 4048, 4054, 4059, 4064, 4069,
    4073, 4077, 4080, 4083, 4086, 4089, 4091, 4092, 4094, 4095, 4096, 4096,
    4096, 4096, 4095, 4094, 4092, 4091, 4089, 4086, 4083, 4080, 4077, 4073,
    4069, 4064, 4059, 4054, 4048, 4043, 4036, 4030, 4023, 4015, 4008, 4000,
    3992, 3983, 3974, 3965, 3955, 3945, 3935, 3924, 3913, 3902, 3891, 3879,
    3867, 3854, 3841, 3828, 3815, 3801, 3787, 3773, 3758, 3743, 3728, 3713,
    3697, 3681, 3665, 3648, 3631, 3614, 3597, 3579, 3561, 3543, 3524, 3506,
    3487, 3467, 3448, 3428, 3408, 3388, 3368, 3347, 3326, 3305, 3284, 3263,
    3241, 3219, 3197, 3175, 3152, 3129, 3107, 3084, 3060, 3037, 3013, 2990,
    2966, 2942, 2918, 2893, 2869, 2844, 2819, 2794, 2769, 2744, 2719, 2694,
    2668, 2643, 2617, 2591, 2565, 2539, 2513, 2487, 2461, 2434, 2408, 2382,
    2355, 2329, 2302, 2275, 2249, 2222, 2195, 2169, 2142, 2115, 2088, 2061,
    2035, 2008, 1981, 1954, 1927, 1901, 1874, 1847, 1821, 1794, 1767, 1741,
    1714, 1688, 1662, 1635, 1609, 1583, 1557, 1531, 1505, 1479, 1453, 1428,
    1402, 1377, 1352, 1327, 1302, 1277, 1252, 1227, 1203, 1178, 1154, 1130,
    1106, 1083, 1059, 1036, 1012, 989, 967, 944, 921, 899, 877, 855,
    833, 812, 791, 770, 749, 728, 708, 688, 668, 648, 629, 609,
    590, 572, 553, 535, 517, 499, 482, 465, 448, 431, 415, 399,
    383, 368, 353, 338, 323, 309, 295, 281, 268, 255, 242, 229,
    217, 205, 194, 183, 172, 161, 151, 141, 131, 122, 113, 104,
    96, 88, 81, 73, 66, 60, 53, 48, 42, 37, 32, 27,
    23, 19, 16, 13, 10, 7, 5, 4, 2, 1, 0, 0
};

static const int16_t kTwiddles[2 * FFT_POINTS] = {
    32767, 0, 32757, -804, 32728, -1608, 32678, -2410, 32609, -3212, 32521, -4011,
    32412, -4808, 32285, -5602, 32137, -6393, 31971, -7179, 31785, -7962, 31580, -8739,
    31356, -9512, 31113, -10278, 30852, -11039, 30571, -11793, 30273, -12539, 29956, -13279,
    29621, -14010, 29268, -14732, 28898, -15446, 28510, -16151, 28105, -16846, 27683, -17530,
    27245, -18204, 26790, -18868, 26319, -19519, 25832, -20159, 25329, -20787, 24811, -21403,
    24279, -22005, 23731, -22594, 23170, -23170, 22594, -23731, 22005, -24279, 21403, -24811,
    20787, -25329, 20159, -25832, 19519, -26319, 18868, -26790, 18204, -27245, 17530, -27683,
    16846, -28105, 16151, -28510, 15446, -28898, 14732, -29268, 14010, -29621, 13279, -29956,
    12539, -30273, 11793, -30571, 11039, -30852, 10278, -31113, 9512, -31356, 8739, -31580,
    7962, -31785, 7179, -31971, 6393, -32137, 5602, -32285, 4808, -32412, 4011, -32521,
    3212, -32609, 2410, -32678, 1608, -32728, 804, -32757, 0, -32767, -804, -32757,
    -1608, -32728, -2410, -32678, -3212, -32609, -4011, -32521, -4808, -32412, -5602, -32285,
    -6393, -32137, -7179, -31971, -7962, -31785, -8739, -31580, -9512, -31356, -10278, -31113,
    -11039, -30852, -11793, -30571, -12539, -30273, -13279, -29956, -14010, -29621, -14732, -29268,
    -15446, -28898, -16151, -28510, -16846, -28105, -17530, -27683, -18204, -27245, -18868, -26790,
    -19519, -26319, -20159, -25832, -20787, -25329, -21403, -24811, -22005, -24279, -22594, -23731,
    -23170, -23170, -23731, -22594, -24279, -22005, -24811, -21403, -25329, -20787, -25832, -20159,
    -26319, -19519, -26790, -18868, -27245, -18204, -27683, -17530, -28105, -16846, -28510, -16151,
    -28898, -15446, -29268, -14732, -29621, -14010, -29956, -13279, -30273, -12539, -30571, -11793,
    -30852, -11039, -31113, -10278, -31356, -9512, -31580, -8739, -31785, -7962, -31971, -7179,
    -32137, -6393, -32285, -5602, -32412, -4808, -32521, -4011, -32609, -3212, -32678, -2410,
    -32728, -1608, -32757, -804, -32767, 0, -32757, 804, -32728, 1608, -32678, 2410,
    -32609, 3212, -32521, 4011, -32412, 4808, -32285, 5602, -32137, 6393, -31971, 7179,
    -31785, 7962, -31580, 8739, -31356, 9512, -31113, 10278, -30852, 11039, -30571, 11793,
    -30273, 12539, -29956, 13279, -29621, 14010, -29268, 14732, -28898, 15446, -28510, 16151,
    -28105, 16846, -27683, 17530, -27245, 18204, -26790, 18868, -26319, 19519, -25832, 20159,
    -25329, 20787, -24811, 21403, -24279, 22005, -23731, 22594, -23170, 23170, -22594, 23731,
    -22005, 24279, -21403, 24811, -20787, 25329, -20159, 25832, -19519, 26319, -18868, 26790,
    -18204, 27245, -17530, 27683, -16846, 28105, -16151, 28510, -15446, 28898, -14732, 29268,
    -14010, 29621, -13279, 29956, -12539, 30273, -11793, 30571, -11039, 30852, -10278, 31113,
    -9512, 31356, -8739, 31580, -7962, 31785, -7179, 31971, -6393, 32137, -5602, 32285,
    -4808, 32412, -4011, 32521, -3212, 32609, -2410, 32678, -1608, 32728, -804, 32757,
    0, 32767, 804, 32757, 1608, 32728, 2410, 32678, 3212, 32609, 4011, 32521,
    4808, 32412, 5602, 32285, 6393, 32137, 7179, 31971, 7962, 31785, 8739, 31580,
    9512, 31356, 10278, 31113, 11039, 30852, 11793, 30571, 12539, 30273, 13279, 29956,
    14010, 29621, 14732, 29268, 15446, 28898, 16151, 28510, 16846, 28105, 17530, 27683,
    18204, 27245, 18868, 26790, 19519, 26319, 20159, 25832, 20787, 25329, 21403, 24811,
    22005, 24279, 22594, 23731, 23170, 23170, 23731, 22594, 24279, 22005, 24811, 21403,
    25329, 20787, 25832, 20159, 26319, 19519, 26790, 18868, 27245, 18204, 27683, 17530,
    28105, 16846, 28510, 16151, 28898, 15446, 29268, 14732, 29621, 14010, 29956, 13279,
    30273, 12539, 30571, 11793, 30852, 11039, 31113, 10278, 31356, 9512, 31580, 8739,
    31785, 7962, 31971, 7179, 32137, 6393, 32285, 5602, 32412, 4808, 32521, 4011,
    32609, 3212, 32678, 2410, 32728, 1608, 32757, 804
};

static const int16_t kSuperTwiddles[FFT_POINTS] = {
    -402, -32765, -804, -32757, -1206, -32745, -1608, -32728, -2009, -32705, -2410, -32678,
    -2811, -32646, -3212, -32609, -3612, -32567, -4011, -32521, -4410, -32469, -4808, -32412,
    -5205, -32351, -5602, -32285, -5998, -32213, -6393, -32137, -6786, -32057, -7179, -31971,
    -7571, -31880, -7962, -31785, -8351, -31685, -8739, -31580, -9126, -31470, -9512, -31356,
    -9896, -31237, -10278, -31113, -10659, -30985, -11039, -30852, -11417, -30714, -11793, -30571,
    -12167, -30424, -12539, -30273, -12910, -30117, -13279, -29956, -13645, -29791, -14010, -29621,
    -14372, -29447, -14732, -29268, -15090, -29085, -15446, -28898, -15800, -28706, -16151, -28510,
    -16499, -28310, -16846, -28105, -17189, -27896, -17530, -27683, -17869, -27466, -18204, -27245,
    -18537, -27019, -18868, -26790, -19195, -26556, -19519, -26319, -19841, -26077, -20159, -25832,
    -20475, -25582, -20787, -25329, -21096, -25072, -21403, -24811, -21705, -24547, -22005, -24279,
    -22301, -24007, -22594, -23731, -22884, -23452, -23170, -23170, -23452, -22884, -23731, -22594,
    -24007, -22301, -24279, -22005, -24547, -21705, -24811, -21403, -25072, -21096, -25329, -20787,
    -25582, -20475, -25832, -20159, -26077, -19841, -26319, -19519, -26556, -19195, -26790, -18868,
    -27019, -18537, -27245, -18204, -27466, -17869, -27683, -17530, -27896, -17189, -28105, -16846,
    -28310, -16499, -28510, -16151, -28706, -15800, -28898, -15446, -29085, -15090, -29268, -14732,
    -29447, -14372, -29621, -14010, -29791, -13645, -29956, -13279, -30117, -12910, -30273, -12539,
    -30424, -12167, -30571, -11793, -30714, -11417, -30852, -11039, -30985, -10659, -31113, -10278,
    -31237, -9896, -31356, -9512, -31470, -9126, -31580, -8739, -31685, -8351, -31785, -7962,
    -31880, -7571, -31971, -7179, -32057, -6786, -32137, -6393, -32213, -5998, -32285, -5602,
    -32351, -5205, -32412, -4808, -32469, -4410, -32521, -4011, -32567, -3612, -32609, -3212,
    -32646, -2811, -32678, -2410, -32705, -2009, -32728, -1608, -32745, -1206, -32757, -804,
    -32765, -402, -32767, 0
};

static const int16_t kFbWeights[316] = {
    0, 1377, 0, 0, 2851, 321, 0, 0, 1971, 0, 0, 0, 0, 3700, 1408, 0,
    0, 3281, 1123, 0, 0, 3124, 1087, 0, 0, 3201, 1271, 0, 0, 3487, 1655, 0,
    0, 3963, 2217, 513, 2943, 1314, 0, 0, 3817, 2257, 731, 0, 0, 3331, 1866, 429,
    3116, 1734, 377, 0, 0, 3141, 1833, 547, 3380, 2139, 918, 0, 0, 3813, 2632, 1469,
    325, 0, 0, 0, 0, 3294, 2184, 1091, 14, 0, 0, 0, 0, 3049, 2003, 971,
    4050, 3047, 2057, 1081, 118, 0, 0, 0, 0, 3263, 2324, 1397, 482, 0, 0, 0,
    0, 3674, 2781, 1899, 1027, 166, 0, 0, 3411, 2569, 1737, 915, 101, 0, 0, 0,
    0, 3393, 2597, 1810, 1031, 261, 0, 0, 3594, 2839, 2092, 1353, 621, 0, 0, 0,
    0, 3992, 3275, 2564, 1860, 1163, 472, 0, 0, 3884, 3207, 2535, 1870, 1210, 557, 0,
    0, 4005, 3363, 2727, 2096, 1470, 850, 235, 3721, 3116, 2516, 1921, 1331, 745, 165, 0,
    0, 3684, 3113, 2545, 1982, 1424, 869, 319, 3869, 3327, 2789, 2255, 1724, 1198, 675, 156,
    3737, 3225, 2717, 2212, 1711, 1213, 719, 228, 3836, 3351, 2870, 2391, 1916, 1444, 975, 509,
    46, 0, 0, 0, 0, 3682, 3224, 2770, 2318, 1869, 1423, 980, 539, 101, 0, 0,
    3761, 3328, 2898, 2470, 2045, 1622, 1201, 783, 367, 0, 0, 0, 0, 4050, 3639, 3230,
    2824, 2419, 2017, 1618, 1220, 824, 431, 40, 3747, 3359, 2974, 2591, 2210, 1831, 1454, 1079,
    706, 334, 0, 0, 4061, 3693, 3327, 2963, 2601, 2241, 1882, 1525, 1170, 816, 465, 115,
    3862, 3516, 3170, 2827, 2485, 2145, 1806, 1469, 1133, 799, 467, 136, 3902, 3574, 3247, 2922,
    2599, 2276, 1955, 1636, 1318, 1001, 686, 372, 59, 0, 0, 0, 0, 3844, 3534, 3225,
    2918, 2612, 2307, 2003, 1701, 1400, 1100, 802, 504, 208, 0, 0, 4009, 3715, 3423, 3131,
    2841, 2552, 2264, 1977, 1691, 1406, 1123, 840, 559, 279, 0, 0
};

static const int16_t kFbUnweights[316] = {
    0, 2718, 0, 0, 1244, 3774, 0, 0, 2124, 0, 0, 0, 0, 395, 2687, 0,
    0, 814, 2972, 0, 0, 971, 3008, 0, 0, 894, 2824, 0, 0, 608, 2440, 0,
    0, 132, 1878, 3582, 1152, 2781, 0, 0, 278, 1838, 3364, 0, 0, 764, 2229, 3666,
    979, 2361, 3718, 0, 0, 954, 2262, 3548, 715, 1956, 3177, 0, 0, 282, 1463, 2626,
    3770, 0, 0, 0, 0, 801, 1911, 3004, 4081, 0, 0, 0, 0, 1046, 2092, 3124,
    45, 1048, 2038, 3014, 3977, 0, 0, 0, 0, 832, 1771, 2698, 3613, 0, 0, 0,
    0, 421, 1314, 2196, 3068, 3929, 0, 0, 684, 1526, 2358, 3180, 3994, 0, 0, 0,
    0, 702, 1498, 2285, 3064, 3834, 0, 0, 501, 1256, 2003, 2742, 3474, 0, 0, 0,
    0, 103, 820, 1531, 2235, 2932, 3623, 0, 0, 211, 888, 1560, 2225, 2885, 3538, 0,
    0, 90, 732, 1368, 1999, 2625, 3245, 3860, 374, 979, 1579, 2174, 2764, 3350, 3930, 0,
    0, 411, 982, 1550, 2113, 2671, 3226, 3776, 226, 768, 1306, 1840, 2371, 2897, 3420, 3939,
    358, 870, 1378, 1883, 2384, 2882, 3376, 3867, 259, 744, 1225, 1704, 2179, 2651, 3120, 3586,
    4049, 0, 0, 0, 0, 413, 871, 1325, 1777, 2226, 2672, 3115, 3556, 3994, 0, 0,
    334, 767, 1197, 1625, 2050, 2473, 2894, 3312, 3728, 0, 0, 0, 0, 45, 456, 865,
    1271, 1676, 2078, 2477, 2875, 3271, 3664, 4055, 348, 736, 1121, 1504, 1885, 2264, 2641, 3016,
    3389, 3761, 0, 0, 34, 402, 768, 1132, 1494, 1854, 2213, 2570, 2925, 3279, 3630, 3980,
    233, 579, 925, 1268, 1610, 1950, 2289, 2626, 2962, 3296, 3628, 3959, 193, 521, 848, 1173,
    1496, 1819, 2140, 2459, 2777, 3094, 3409, 3723, 4036, 0, 0, 0, 0, 251, 561, 870,
    1177, 1483, 1788, 2092, 2394, 2695, 2995, 3293, 3591, 3887, 0, 0, 86, 380, 672, 964,
    1254, 1543, 1831, 2118, 2404, 2689, 2972, 3255, 3536, 3816, 4096, 0
};

static const int16_t kFbFrequencyStarts[PM_MS_NUM_CHANNELS + 1] = {
    4, 6, 8, 8, 10, 12, 14, 16, 18, 22, 24, 26,
    30, 32, 36, 38, 42, 46, 50, 54, 58, 64, 68, 74,
    78, 84, 90, 98, 104, 112, 120, 128, 136, 146, 154, 166,
    176, 188, 200, 212, 226
};

static const int16_t kFbWeightStarts[PM_MS_NUM_CHANNELS + 1] = {
    0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44,
    48, 52, 56, 60, 68, 76, 80, 88, 96, 104, 112, 120,
    128, 136, 144, 152, 160, 168, 176, 184, 196, 208, 220, 232,
    244, 256, 268, 284, 300
};

static const int16_t kFbWidths[PM_MS_NUM_CHANNELS + 1] = {
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 8, 8, 4, 8, 8, 8, 8, 8, 8,
    8, 8, 8, 8, 8, 8, 8, 12, 12, 12, 12, 12,
    12, 12, 16, 16, 16
};

static const int16_t kPcanLut[125] = {
    32636, 32633, 32630, -6, 0, 0, 32624, -12, 0, 0, 32612, -23,
    -2, 0, 32587, -48, 0, 0, 32539, -96, 0, 0, 32443, -190,
    0, 0, 32253, -378, 4, 0, 31879, -739, 18, 0, 31158, -1409,
    62, 0, 29811, -2567, 202, 0, 27446, -4301, 562, 0, 23707, -6265,
    1230, 0, 18672, -7458, 1952, 0, 13166, -7030, 2212, 0, 8348, -5342,
    1868, 0, 4874, -3459, 1282, 0, 2697, -2025, 774, 0, 1446, -1120,
    436, 0, 762, -596, 232, 0, 398, -313, 122, 0, 207, -164,
    64, 0, 107, -85, 34, 0, 56, -45, 18, 0, 29, -22,
    8, 0, 15, -13, 6, 0, 8, -8, 4, 0, 4, -2,
    0, 0, 2, -3, 2, 0, 1, 0, 0, 0, 1, -3,
    2, 0, 0, 0, 0
};

static const uint16_t kLogLut[130] = {
    0, 224, 442, 654, 861, 1063, 1259, 1450, 1636, 1817, 1992, 2163,
    2329, 2490, 2646, 2797, 2944, 3087, 3224, 3358, 3487, 3611, 3732, 3848,
    3960, 4068, 4172, 4272, 4368, 4460, 4549, 4633, 4714, 4791, 4864, 4934,
    5001, 5063, 5123, 5178, 5231, 5280, 5326, 5368, 5408, 5444, 5477, 5507,
    5533, 5557, 5578, 5595, 5610, 5622, 5631, 5637, 5640, 5641, 5638, 5633,
    5626, 5615, 5602, 5586, 5568, 5547, 5524, 5498, 5470, 5439, 5406, 5370,
    5332, 5291, 5249, 5203, 5156, 5106, 5054, 5000, 4944, 4885, 4825, 4762,
    4697, 4630, 4561, 4490, 4416, 4341, 4264, 4184, 4103, 4020, 3935, 3848,
    3759, 3668, 3575, 3481, 3384, 3286, 3186, 3084, 2981, 2875, 2768, 2659,
    2549, 2437, 2323, 2207, 2090, 1971, 1851, 1729, 1605, 1480, 1353, 1224,
    1094, 963, 830, 695, 559, 421, 282, 142, 0, 0
};
/* ---- end of tables ---- */

/* Two's-complement truncation to int16 (what storing into int16_t does). */
static int16_t wrap16(int32_t v) {
    uint32_t u = (uint32_t)v & 0xFFFFu;
    return (int16_t)(u >= 0x8000u ? (int32_t)u - 0x10000 : (int32_t)u);
}

/* Two's-complement truncation of an int64 to int32. */
static int32_t wrap32(int64_t v) {
    uint32_t u = (uint32_t)((uint64_t)v & 0xFFFFFFFFu);
    return u >= 0x80000000u ? (int32_t)(u - 0x80000000u) - 0x7FFFFFFF - 1 : (int32_t)u;
}

/* Arithmetic (flooring) right shift of a signed value. */
static int32_t asr32(int32_t v, int s) { return v >= 0 ? v >> s : -1 - ((-1 - v) >> s); }

/* MostSignificantBit32 as the GCC build computes it: bit length, and 32 for 0. */
static int msb32(uint32_t x) {
    int n = 0;
    if (x == 0u) return 32;
    while (x) {
        x >>= 1;
        ++n;
    }
    return n;
}

static int msb64(uint64_t x) {
    int n = 0;
    if (x == 0u) return 64;
    while (x) {
        x >>= 1;
        ++n;
    }
    return n;
}

/* ---- window + FFT auto-scale ---- */
static int16_t windowed(const int16_t *x, int i) {
    int32_t raw = asr32((int32_t)x[i] * kWindow[i], WINDOW_SHIFT);
    return (int16_t)(raw < -32768 ? -32768 : raw > 32767 ? 32767 : raw);
}

/* MaxAbs16 with its int16 quirk: -(-32768) stored back into the int16 maximum wraps. */
static int fft_scale_bits(const int16_t *x) {
    int16_t max = 0;
    int i, bits;
    for (i = 0; i < PM_MS_FRAME_SAMPLES; ++i) {
        const int16_t v = windowed(x, i);
        if (v > max) {
            max = v;
        } else if (-v > max) {
            max = wrap16(-(int32_t)v);
        }
    }
    bits = 16 - msb32((uint32_t)(int32_t)max) - 1;
    return bits <= 0 ? 0 : bits;
}

/* ---- kiss_fft, fixed point 16 ---- */
/* C_FIXDIV(x, k): x * (32767 / k) in Q15, rounded. */
static int16_t fixdiv(int16_t x, int32_t k) { return wrap16(asr32((int32_t)x * (32767 / k) + (1 << 14), 15)); }

/* C_MUL: (ar + i ai)(br + i bi) in Q15; the int32 sums cannot overflow (|b| <= 32767). */
static void cmul(int16_t ar, int16_t ai, int16_t br, int16_t bi, int16_t *r, int16_t *i) {
    *r = wrap16(asr32((int32_t)ar * br - (int32_t)ai * bi + (1 << 14), 15));
    *i = wrap16(asr32((int32_t)ar * bi + (int32_t)ai * br + (1 << 14), 15));
}

/* kf_bfly4 (forward) on re/im[k + {0, m, 2m, 3m}] with twiddle stride fstride. */
static void bfly4(int16_t *re, int16_t *im, int k, int m, int fstride, int tk) {
    int16_t r0 = fixdiv(re[k], 4), i0 = fixdiv(im[k], 4);
    int16_t r1 = fixdiv(re[k + m], 4), i1 = fixdiv(im[k + m], 4);
    int16_t r2 = fixdiv(re[k + 2 * m], 4), i2 = fixdiv(im[k + 2 * m], 4);
    int16_t r3 = fixdiv(re[k + 3 * m], 4), i3 = fixdiv(im[k + 3 * m], 4);
    int16_t s0r, s0i, s1r, s1i, s2r, s2i, s3r, s3i, s4r, s4i, s5r, s5i;
    const int t1 = tk * fstride, t2 = 2 * tk * fstride, t3 = 3 * tk * fstride;
    cmul(r1, i1, kTwiddles[2 * t1], kTwiddles[2 * t1 + 1], &s0r, &s0i);
    cmul(r2, i2, kTwiddles[2 * t2], kTwiddles[2 * t2 + 1], &s1r, &s1i);
    cmul(r3, i3, kTwiddles[2 * t3], kTwiddles[2 * t3 + 1], &s2r, &s2i);
    s5r = wrap16((int32_t)r0 - s1r);
    s5i = wrap16((int32_t)i0 - s1i);
    r0 = wrap16((int32_t)r0 + s1r);
    i0 = wrap16((int32_t)i0 + s1i);
    s3r = wrap16((int32_t)s0r + s2r);
    s3i = wrap16((int32_t)s0i + s2i);
    s4r = wrap16((int32_t)s0r - s2r);
    s4i = wrap16((int32_t)s0i - s2i);
    re[k + 2 * m] = wrap16((int32_t)r0 - s3r);
    im[k + 2 * m] = wrap16((int32_t)i0 - s3i);
    re[k] = wrap16((int32_t)r0 + s3r);
    im[k] = wrap16((int32_t)i0 + s3i);
    re[k + m] = wrap16((int32_t)s5r + s4i);
    im[k + m] = wrap16((int32_t)s5i - s4r);
    re[k + 3 * m] = wrap16((int32_t)s5r - s4i);
    im[k + 3 * m] = wrap16((int32_t)s5i + s4r);
}

/* kf_work for 256 = 4^4 points, iteratively: kiss's recursion leaves the input in base-4
 * digit-reversed order (done by the caller), then radix-4 stages run from the innermost
 * (m = 1, twiddle stride 64) out; the blocks of one stage are independent, so this order
 * computes exactly what the recursion does. */
static void fft256(int16_t *re, int16_t *im) {
    int m, fstride, block, k;
    for (m = 1, fstride = FFT_POINTS / 4; m < FFT_POINTS; m *= 4, fstride /= 4) {
        for (block = 0; block < fstride; ++block) {
            for (k = 0; k < m; ++k) {
                bfly4(re, im, block * 4 * m + k, m, fstride, k);
            }
        }
    }
}

static int digit_reverse4(int c) { return ((c & 3) << 6) | ((c & 12) << 2) | ((c >> 2) & 12) | ((c >> 6) & 3); }

/* Window, auto-scale and zero-pad the frame, RFFT it (kiss_fftr): re/im[0..256] receive
 * bins 0..256. Returns the auto-scale shift. */
static int rfft_frame(const int16_t *x, int16_t *re, int16_t *im) {
    const int bits = fft_scale_bits(x);
    int c, k;
    for (c = 0; c < FFT_POINTS; ++c) { /* complex sample c = (s[2c], s[2c + 1]) */
        const int pos = digit_reverse4(c);
        re[pos] = 2 * c < PM_MS_FRAME_SAMPLES ? wrap16((int32_t)windowed(x, 2 * c) * (1 << bits)) : 0;
        im[pos] = 2 * c + 1 < PM_MS_FRAME_SAMPLES ? wrap16((int32_t)windowed(x, 2 * c + 1) * (1 << bits)) : 0;
    }
    fft256(re, im);
    {   /* kiss_fftr's split of the two interleaved real transforms, in place */
        const int16_t dc_r = fixdiv(re[0], 2), dc_i = fixdiv(im[0], 2);
        for (k = 1; k <= FFT_POINTS / 2; ++k) {
            const int16_t pk_r = fixdiv(re[k], 2), pk_i = fixdiv(im[k], 2);
            const int16_t pnk_r = fixdiv(re[FFT_POINTS - k], 2);
            const int16_t pnk_i = fixdiv(wrap16(-(int32_t)im[FFT_POINTS - k]), 2);
            const int16_t f1r = wrap16((int32_t)pk_r + pnk_r), f1i = wrap16((int32_t)pk_i + pnk_i);
            const int16_t f2r = wrap16((int32_t)pk_r - pnk_r), f2i = wrap16((int32_t)pk_i - pnk_i);
            int16_t twr, twi;
            cmul(f2r, f2i, kSuperTwiddles[2 * (k - 1)], kSuperTwiddles[2 * (k - 1) + 1], &twr, &twi);
            re[k] = (int16_t)asr32((int32_t)f1r + twr, 1);
            im[k] = (int16_t)asr32((int32_t)f1i + twi, 1);
            re[FFT_POINTS - k] = (int16_t)asr32((int32_t)f1r - twr, 1); /* k = 128: this write wins */
            im[FFT_POINTS - k] = (int16_t)asr32((int32_t)twi - f1i, 1);
        }
        re[0] = wrap16((int32_t)dc_r + dc_i);
        re[FFT_POINTS] = wrap16((int32_t)dc_r - dc_i);
        im[0] = 0;
        im[FFT_POINTS] = 0;
    }
    return bits;
}

/* ---- energy + filter bank ---- */
static uint32_t bin_energy(const int16_t *re, const int16_t *im, int i) {
    if (i < ENERGY_START || i >= ENERGY_END) return 0u; /* the graph zeroes bins outside [5, 241) */
    return (uint32_t)((int32_t)re[i] * re[i]) + (uint32_t)((int32_t)im[i] * im[i]);
}

/* FilterbankAccumulateChannels; out[c] = channel c + 1 (channel 0 is scratch). */
static void filter_bank(const int16_t *re, const int16_t *im, uint64_t *out) {
    uint64_t weight_acc = 0, unweight_acc = 0;
    int i, j;
    for (i = 0; i <= PM_MS_NUM_CHANNELS; ++i) {
        for (j = 0; j < kFbWidths[i]; ++j) {
            const uint64_t e = bin_energy(re, im, kFbFrequencyStarts[i] + j);
            weight_acc += (uint64_t)(int64_t)kFbWeights[kFbWeightStarts[i] + j] * e;
            unweight_acc += (uint64_t)(int64_t)kFbUnweights[kFbWeightStarts[i] + j] * e;
        }
        if (i > 0) out[i - 1] = weight_acc;
        weight_acc = unweight_acc;
        unweight_acc = 0;
    }
}

/* ---- square roots (digit by digit, rounded) ---- */
static uint16_t sqrt32(uint32_t num) {
    uint32_t res = 0, bit;
    int max_bit, iterations;
    if (num == 0u) return 0;
    max_bit = (32 - msb32(num)) | 1;
    bit = (uint32_t)1 << (31 - max_bit);
    iterations = (31 - max_bit) / 2 + 1;
    while (iterations--) {
        if (num >= res + bit) {
            num -= res + bit;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    if (num > res && res != 0xFFFFu) ++res;
    return (uint16_t)res;
}

static uint32_t sqrt64(uint64_t num) {
    uint64_t res = 0, bit;
    int max_bit, iterations;
    if ((num >> 32) == 0u) return sqrt32((uint32_t)num);
    max_bit = (64 - msb64(num)) | 1;
    bit = (uint64_t)1 << (63 - max_bit);
    iterations = (63 - max_bit) / 2 + 1;
    while (iterations--) {
        if (num >= res + bit) {
            num -= res + bit;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    if (num > res && res != 0xFFFFFFFFu) ++res;
    return (uint32_t)res;
}

/* ---- spectral subtraction ---- */
static uint32_t spectral_subtraction(uint32_t *noise_estimate, int i, uint32_t input) {
    const uint32_t smoothing = (i & 1) ? SS_ALT_SMOOTHING : SS_SMOOTHING;
    const uint32_t one_minus = (i & 1) ? SS_ALT_ONE_MINUS_SMOOTHING : SS_ONE_MINUS_SMOOTHING;
    const uint32_t scaled = input << SS_SMOOTHING_BITS;
    uint32_t estimate, floor_value, subtracted;
    noise_estimate[i] = (uint32_t)(((uint64_t)scaled * smoothing + (uint64_t)noise_estimate[i] * one_minus) >> SS_BITS);
    estimate = noise_estimate[i] > scaled ? scaled : noise_estimate[i]; /* no clamping of the estimate */
    floor_value = (uint32_t)(((uint64_t)input * SS_MIN_SIGNAL_REMAINING) >> SS_BITS);
    subtracted = (scaled - estimate) >> SS_SMOOTHING_BITS;
    return subtracted > floor_value ? subtracted : floor_value;
}

/* ---- PCAN ---- */
static int16_t wide_dynamic_function(uint32_t x) {
    const int16_t *lut;
    int interval;
    int32_t frac, result;
    if (x <= 2u) return kPcanLut[x];
    interval = msb32(x);
    lut = kPcanLut + 4 * interval - 6;
    frac = (int32_t)((interval < 11 ? x << (11 - interval) : x >> (interval - 11)) & 0x3FFu);
    result = asr32((int32_t)lut[2] * frac, 5);
    result += (int32_t)lut[1] * 32;
    result = wrap32((int64_t)result * frac);
    result = asr32(wrap32((int64_t)result + (1 << 14)), 15);
    return wrap16(result + lut[0]);
}

static uint32_t pcan_shrink(uint32_t x) {
    if (x < (2u << PCAN_SNR_BITS)) return (x * x) >> (2 + 2 * PCAN_SNR_BITS - PCAN_OUTPUT_BITS);
    return (x >> (PCAN_SNR_BITS - PCAN_OUTPUT_BITS)) - (1u << PCAN_OUTPUT_BITS);
}

static uint32_t pcan(uint32_t input, uint32_t noise_estimate) {
    const uint32_t gain = (uint32_t)(int32_t)wide_dynamic_function(noise_estimate);
    return pcan_shrink((uint32_t)(((uint64_t)input * gain) >> PCAN_SNR_SHIFT));
}

/* ---- log ---- */
static uint32_t log32(uint32_t x) {
    const uint32_t integer = (uint32_t)msb32(x) - 1u;
    int32_t frac = (int32_t)(x - ((uint32_t)1 << integer)); /* < 2^integer <= 2^31: fits */
    int32_t c0, c1, rel;
    uint32_t base_seg, fraction, log2, loge;
    frac = integer < 16u ? frac << (16u - integer) : frac >> (integer - 16u);
    base_seg = (uint32_t)frac >> 9;
    c0 = kLogLut[base_seg];
    c1 = kLogLut[base_seg + 1];
    rel = asr32((c1 - c0) * (frac - (int32_t)(base_seg << 9)), 16);
    fraction = (uint32_t)(frac + c0 + rel);
    log2 = (integer << 16) + fraction;
    loge = (uint32_t)(((uint64_t)LOG_COEFF * log2 + (1u << 15)) >> 16);
    return (LOG_SCALE * loge + (1u << 15)) >> 16;
}

static int16_t filter_bank_log(uint32_t x) {
    const uint32_t scaled = x << LOG_CORRECTION_BITS;
    uint32_t v;
    if (scaled <= 1u) return 0;
    v = log32(scaled);
    return (int16_t)(v < 32767u ? v : 32767u);
}

/* ---- public API ---- */
void pm_micro_speech_reset(pm_micro_speech_state *state) {
    int i;
    for (i = 0; i < PM_MS_NUM_CHANNELS; ++i) state->noise_estimate[i] = 0u;
}

void pm_micro_speech_frame(pm_micro_speech_state *state, const int16_t *samples480, int8_t *features40) {
    int16_t re[NUM_BINS], im[NUM_BINS];
    uint64_t channels[PM_MS_NUM_CHANNELS];
    const int bits = rfft_frame(samples480, re, im);
    int i;
    filter_bank(re, im, channels);
    for (i = 0; i < PM_MS_NUM_CHANNELS; ++i) {
        const uint32_t magnitude = sqrt64(channels[i]) >> bits;
        const uint32_t cleaned = spectral_subtraction(state->noise_estimate, i, magnitude);
        const int16_t log_value = filter_bank_log(pcan(cleaned, state->noise_estimate[i]));
        int32_t v = ((int32_t)log_value * INT8_MUL + INT8_ADD) / INT8_DIV + INT8_OFFSET; /* log >= 0 */
        features40[i] = (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
    }
}
