#include <stdio.h>
int main(void)
{
	puts("test_config: not written yet");
	return 1;
}
