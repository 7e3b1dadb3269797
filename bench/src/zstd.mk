# Builds zstd's library sources (as shipped in the zstd-sys crate) into libzstd.a: a real C
# project of ~60 files, for measuring seccomp overhead on a parallel build.
SRCS := $(wildcard common/*.c compress/*.c decompress/*.c dictBuilder/*.c)
OBJS := $(SRCS:.c=.o)
CFLAGS ?= -O2
CPPFLAGS += -I. -Icommon -DZSTD_DISABLE_ASM

libzstd.a: $(OBJS)
	$(AR) rcs $@ $^

clean:
	rm -f $(OBJS) libzstd.a
