/**
 * @file
 * libnoxrunner version and symbol-export macros.
 *
 * The version numbers below are the single source of truth: CMake reads them
 * from this file, so a release bumps them here and nowhere else.
 */
#ifndef NOXRUNNER_VERSION_H
#define NOXRUNNER_VERSION_H

#define NOX_VERSION_MAJOR 0 /**< Incompatible API or ABI changes. */
#define NOX_VERSION_MINOR 1 /**< Compatible additions. */
#define NOX_VERSION_PATCH 0 /**< Fixes. */
#define NOX_VERSION_STRING "0.1.0" /**< "MAJOR.MINOR.PATCH" */

/** The version as one comparable number: 0xMMmmpp. */
#define NOX_VERSION_HEX                                                        \
  ((NOX_VERSION_MAJOR << 16) | (NOX_VERSION_MINOR << 8) | NOX_VERSION_PATCH)

/**
 * @def NOX_EXTERN
 * Marks the exported symbols. The library is built with hidden
 * visibility, so only what carries this macro is part of the ABI.
 */
#if defined(_WIN32)
#if defined(NOX_BUILDING_SHARED)
#define NOX_EXTERN __declspec(dllexport)
#elif defined(NOX_USING_SHARED)
#define NOX_EXTERN __declspec(dllimport)
#else
#define NOX_EXTERN
#endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#define NOX_EXTERN __attribute__((visibility("default")))
#else
#define NOX_EXTERN
#endif

/**
 * @def NOX_DEPRECATED
 * Marks a function kept for compatibility: calling it makes the compiler
 * warn with msg, which names the replacement. Deprecated names stay for at
 * least one release.
 */
#if defined(__GNUC__) &&                                                       \
    (__GNUC__ > 4 || (__GNUC__ == 4 && __GNUC_MINOR__ >= 5))
#define NOX_DEPRECATED(msg) __attribute__((deprecated(msg)))
#else
#define NOX_DEPRECATED(msg)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The version of the library actually linked, as NOX_VERSION_HEX.
 * Thread-safe; may be called at any time.
 */
NOX_EXTERN unsigned nox_version(void);

/**
 * The version of the library actually linked, as "MAJOR.MINOR.PATCH".
 * Returns a static string; never NULL.
 */
NOX_EXTERN const char *nox_version_string(void);

#ifdef __cplusplus
}
#endif

#endif /* NOXRUNNER_VERSION_H */
