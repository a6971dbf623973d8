// DELETE /admin/subjects/{sub}/events: without ADMIN_TOKEN it answers 404 as an unknown path does. The token is compared in constant time and never
// logged; a wrong or missing one learns nothing and changes nothing.
import {
  Controller,
  Delete,
  Headers,
  HttpCode,
  HttpException,
  HttpStatus,
  Inject,
  NotFoundException,
  Param,
} from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { ApiExcludeController } from '@nestjs/swagger';
import { createHash, timingSafeEqual } from 'node:crypto';
import { PinoLogger } from 'nestjs-pino';
import { appConfig } from '../config/app.config.js';
import { ErasureService } from './erasure.service.js';
import type { ErasureReceipt } from './redis-erasure.js';

const SUBJECT_MAX = 1024;
const digest = (text: string) => createHash('sha256').update(text).digest();

// Not in /openapi.json: it exists only with ADMIN_TOKEN, and docs/privacy.md describes it.
@ApiExcludeController()
@Controller('admin')
export class ErasureController {
  /** undefined without ADMIN_TOKEN: the route then answers as an unknown path does. */
  private readonly expected: Buffer | undefined;

  constructor(
    private readonly erasure: ErasureService,
    @Inject(appConfig.KEY) cfg: ConfigType<typeof appConfig>,
    private readonly logger: PinoLogger,
  ) {
    logger.setContext(ErasureController.name);
    this.expected = cfg.adminToken === undefined ? undefined : digest(`Bearer ${cfg.adminToken}`);
  }

  @Delete('subjects/:sub/events')
  @HttpCode(200)
  async erase(
    @Param('sub') subject: string,
    @Headers('authorization') authorization: string | undefined,
  ): Promise<ErasureReceipt> {
    if (this.expected === undefined) {
      throw new NotFoundException(`Cannot DELETE /admin/subjects/${encodeURIComponent(subject)}/events`);
    }
    // Digests of equal length, so the comparison takes the same time whatever was sent.
    if (!timingSafeEqual(digest(authorization ?? ''), this.expected)) {
      throw new HttpException({ error: 'Unauthorized' }, HttpStatus.UNAUTHORIZED);
    }
    // eslint-disable-next-line no-control-regex
    if (subject.length === 0 || subject.length > SUBJECT_MAX || /[\u0000-\u001f]/.test(subject)) {
      throw new HttpException({ error: 'Invalid subject' }, HttpStatus.BAD_REQUEST);
    }
    try {
      return await this.erasure.erase(subject);
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'Erasure by subject failed');
      throw new HttpException({ error: 'Service unavailable' }, HttpStatus.SERVICE_UNAVAILABLE);
    }
  }
}
